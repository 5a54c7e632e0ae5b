"""The Text-to-LoRA Space: settings, shared models, per-user sessions, handlers and the page (see README.md)."""
