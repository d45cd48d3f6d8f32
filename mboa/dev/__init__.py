"""Running Mboa Pay on one machine: embedded servers, where they are, the demo merchant."""
