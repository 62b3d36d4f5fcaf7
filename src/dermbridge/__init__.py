"""DermBridge: self-hosted teledermatology for the NHS."""

__version__ = "0.1.0"
