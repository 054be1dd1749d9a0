"""How often the word tokenizers give back a corpus's own tokens, and how fast they are.

    python tests/benchmarks/bench_tokenize.py [CONLL_FILE ...] [--no-news-style]

For every sentence of each CoNLL file (default: WNUT-17 in ``/work/shared/data/wnut17``;
any other CoNLL corpus by path, e.g. the CoNLL-2003 English news files, which Spanlab
does not ship: ``bench_tokenize.py conll2003/test.txt``)
the raw text is rebuilt twice from the corpus tokens:

- *joined*: the tokens with single spaces between them;
- *detokenized*: as a person would write it: no space before ``, . ! ? ; : % ) ] }``
  and the clitics ``'s n't 're 'll 've 'm 'd``, none after ``( [ { $``.

A sentence agrees when ``tokenize(text)`` gives back exactly the corpus's tokens (same
offsets). Agreement is reported for the ``corpus`` and the ``basic`` tokenizer, with
their speed in tokens per CPU second (the machine may be shared).

``NEWS_STYLE`` is a hand-made check set: 50 sentences written for this benchmark in the
style of CoNLL-2003 news, tokenized by hand the way that corpus is (contractions and
possessives split, abbreviations, hyphenated words, numbers, dates, scores kept whole).
It is not a sample of any corpus, and the rules were written with these cases in view:
it shows that the cases are covered, it does not measure agreement on unseen news.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.tokenize import TOKENIZERS, tokenize  # noqa: E402

DEFAULT_CORPUS = "/work/shared/data/wnut17/*.txt"
_NO_SPACE_BEFORE = {",", ".", "!", "?", ";", ":", "%", ")", "]", "}", "...", "'s", "'S"}
_NO_SPACE_BEFORE |= {"n't", "N'T", "'re", "'ll", "'ve", "'m", "'d", "'RE", "'LL", "'VE", "'M"}
_NO_SPACE_AFTER = {"(", "[", "{", "$"}

NEWS_STYLE = """\
SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT .
The U.S. Treasury said on Friday it would sell $ 18 billion of two-year notes .
Bre-X Minerals Ltd. shares fell 1.50 to C$ 3.25 on the Toronto Stock Exchange .
Mr. Clinton said he did n't expect the talks to fail .
Germany 's representative to the European Union 's veterinary committee spoke on Wednesday .
Ajax beat PSV Eindhoven 2-0 in Amsterdam on Sunday .
The state-of-the-art plant in Osaka will cost 1,250.75 million yen .
Results of the match played on 1996-12-06 were confirmed by the league .
Trading halted at 10:30 GMT after the index lost 1/2 a point .
Shares of Acme Corp. rose 3/4 to 21 1/4 in New York .
" We 're ready , " said coach Bobby Robson , 63 .
They 'll meet again in Geneva -- if the ceasefire holds .
Dr. Kevorkian 's lawyer said the case was " a farce ... nothing more " .
Sen. Bob Dole ( R-Kan. ) won the Republican nomination .
The company , based in St. Louis , employs 4,300 people .
Prices rose 0.3 percent in October , the Labor Department said .
Gen. Ratko Mladic 's forces left the town on Tuesday .
I 've never seen anything like it , the official told Reuters .
Inflation was 2.5 % in the year to June , the bank said .
He was born in Bonn on Jan. 5 , 1950 , and studied law .
The euro-zone economy grew at an annual rate of 1.2 percent .
Pakistan 's cricketers won by 45 runs in Lahore .
The U.K. government could n't comment on the report .
Smith & Wesson Inc. will buy back 1,000,000 shares .
AT&T Corp. and MCI said they 'd share the network .
Mrs. Thatcher 's memoirs sold 250,000 copies in Britain .
Final score : Barcelona 3 Real Madrid 1 .
The Dow Jones industrial average closed up 12.34 points at 6,543.21 .
" It 's a good result for us , " Kinkel said .
She 'd left Paris for Rome by the time the police arrived .
Italy 's Serie A standings after Sunday 's matches :
Lazio 2 Juventus 2 ( halftime 1-1 ) .
The 18-year-old striker joined Manchester United in August .
Tokyo stocks closed 0.5 percent lower on Wednesday .
Police said two people were killed in a car bomb in Belfast .
The New York-based group said it had raised $ 2.5 million .
U.N. envoy Yasushi Akashi arrived in Zagreb on Monday .
I 'm confident we can win the title , Hingis said .
Oil prices rose to $ 24.50 a barrel in London .
The talks , which began on 12/05/1996 , ended without agreement .
Exports to the EU rose 4.6 % year-on-year .
Chelsea 's Ruud Gullit said the team was n't at its best .
The Czech Republic beat Slovakia 3-2 in a friendly in Prague .
Shares in Glaxo Wellcome Plc fell 15 pence to 955 pence .
Moscow said the withdrawal from Chechnya would be complete by Dec. 31 .
Vice-President Al Gore will visit Japan and South Korea next week .
The agreement covers 1.2 million tonnes of grain a year .
Jones ' lawyers said they would appeal the ruling .
Kinshasa 's mayor declined to comment .
The match was stopped after 76 minutes because of fog in Milan .
"""


def read_sentences(paths: Iterable[str]) -> list[list[str]]:
    """The token column of each sentence of CoNLL files (``-DOCSTART-`` lines skipped)."""
    sentences: list[list[str]] = []
    for path in paths:
        words: list[str] = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if not parts:
                    if words:
                        sentences.append(words)
                    words = []
                elif parts[0] != "-DOCSTART-":
                    words.append(parts[0])
        if words:
            sentences.append(words)
    return sentences


def joined(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words with single spaces between them, and their offsets."""
    return _build(words, lambda _previous, _word: True)


def detokenized(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words as written: no space before closing punctuation and clitics, none after
    opening brackets and ``$``."""
    return _build(
        words,
        lambda previous, word: word not in _NO_SPACE_BEFORE and previous not in _NO_SPACE_AFTER,
    )


def _build(words: Sequence[str], space) -> tuple[str, list[tuple[int, int]]]:
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    pos = 0
    for i, word in enumerate(words):
        if i and space(words[i - 1], word):
            parts.append(" ")
            pos += 1
        parts.append(word)
        offsets.append((pos, pos + len(word)))
        pos += len(word)
    return "".join(parts), offsets


def agreement(sentences: list[list[str]], tokenizer: str, build) -> tuple[float, list[str]]:
    """The share of sentences tokenized exactly as the corpus is, and a few that are not."""
    same = 0
    misses: list[str] = []
    for words in sentences:
        text, expected = build(words)
        got = tokenize(text, tokenizer)
        if got == expected:
            same += 1
        elif len(misses) < 8:
            misses.append(" | ".join(text[s:e] for s, e in got))
    return same / max(len(sentences), 1), misses


def tokens_per_second(texts: list[str], tokenizer: str, repeat: int = 3) -> float:
    """Tokens per CPU second, the best of ``repeat`` passes over ``texts``."""
    best = 0.0
    for _ in range(repeat):
        started = time.process_time()
        count = sum(len(tokenize(text, tokenizer)) for text in texts)
        best = max(best, count / max(time.process_time() - started, 1e-9))
    return best


def report(name: str, sentences: list[list[str]], show_misses: bool) -> None:
    print(f"\n{name}: {len(sentences):,} sentences, {sum(map(len, sentences)):,} tokens")
    for build in (joined, detokenized):
        for tokenizer in TOKENIZERS:
            share, misses = agreement(sentences, tokenizer, build)
            print(f"  {build.__name__:12} {tokenizer:7} {100 * share:6.2f} % sentences exact")
            if show_misses and tokenizer == "corpus":
                for miss in misses:
                    print(f"      differs: {miss[:150]}")
    texts = [detokenized(words)[0] for words in sentences]
    rates = {tokenizer: tokens_per_second(texts, tokenizer) for tokenizer in TOKENIZERS}
    for tokenizer, rate in rates.items():
        print(f"  speed        {tokenizer:7} {rate:12,.0f} tokens/s (CPU)")
    print(f"  speed ratio corpus / basic: {rates['corpus'] / rates['basic']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help=f"CoNLL files (default {DEFAULT_CORPUS})")
    parser.add_argument("--no-news-style", action="store_true", help="skip NEWS_STYLE")
    parser.add_argument("--misses", action="store_true", help="show sentences that differ")
    args = parser.parse_args()
    paths = sorted(args.files or glob.glob(DEFAULT_CORPUS))
    if paths:
        report(", ".join(Path(p).name for p in paths), read_sentences(paths), args.misses)
    if not args.no_news_style:
        news = [line.split() for line in NEWS_STYLE.splitlines() if line.strip()]
        report("NEWS_STYLE (hand-made, CoNLL-2003 style)", news, args.misses)


if __name__ == "__main__":
    main()
