"""Load workflow and environment specs with positions, validate them, build the typed model."""
