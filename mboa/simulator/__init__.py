"""`mboa simulator`: MTN MoMo and Orange Money as local, stateful, scriptable HTTP servers that
speak the operators' own wire protocols (docs/sandbox.md)."""
