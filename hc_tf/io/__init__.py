"""Reading inputs and writing outputs safely: atomic files, HC18 CSVs. TF-free."""
