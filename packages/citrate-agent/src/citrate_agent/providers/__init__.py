"""LLM providers behind one interface (`base.ChatProvider`), and which to use when."""
