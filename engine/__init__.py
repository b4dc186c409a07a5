"""smpp-engine: a high-throughput SMPP 3.4 engine (asyncio outside, Rust core inside)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
