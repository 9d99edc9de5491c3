"""cpoms-kit: child-protection and welfare records kept in a school's own encrypted git repository."""

__version__ = "0.1.0"
