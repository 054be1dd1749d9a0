"""Spanlab desktop application (PySide6); it only calls core."""
