"""The local training engine: exact and DIMSUM item-item cosine on one machine."""
