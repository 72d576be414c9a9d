"""One module per tab; each has ``build(ui)`` that lays the tab out inside ``gr.Tabs``."""
