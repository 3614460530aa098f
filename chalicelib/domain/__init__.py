"""Domain: plain Python, no AWS or provider imports."""
