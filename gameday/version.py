"""gameday's version: a leaf module, so that what records it (history, chaostoolkit's discovery) need not import
the package's ``__init__``, whose chaostoolkit hook imports the chaos layer."""

__version__ = "0.1.0"
