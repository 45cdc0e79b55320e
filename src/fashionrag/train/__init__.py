"""Training code for the models this project fits itself (``fashionrag train ...``)."""
