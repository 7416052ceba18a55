"""coalition-report: sourced policy brief on the coalition of the willing supporting Ukraine."""
__version__ = "0.1.0"
