"""The shared network vocabulary: layer lists in YAML, built into torch modules for any algorithm."""
