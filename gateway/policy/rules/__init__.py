"""One module per policy rule; each exports RULE (a name and a pure check)."""
