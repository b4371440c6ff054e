"""What a measurement becomes for people and systems: report records. TF-free."""
