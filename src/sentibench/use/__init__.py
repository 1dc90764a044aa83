"""Using what was trained: `sentibench predict` on new texts."""
