"""sessdiag: forensics for web-session stores (beego/PHP file trees, Redis)."""

__version__ = "0.1.0"
