"""Putting a trained model to work outside the app: export and serving.

``core.deploy.export.export_model`` writes a model folder as a Hugging Face folder, an
ONNX model or an int8 ONNX model, checked against the original on dev documents;
``core.deploy.server`` serves a model folder over HTTP. This package module itself
imports nothing heavy, so the desktop can read :data:`FORMATS` at start-up.
"""

#: Export formats: the Hugging Face folder as it is, ONNX (fp32), ONNX with int8 weights.
FORMATS = ("hf", "onnx", "onnx-int8")
