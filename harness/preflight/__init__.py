"""Before a run rents time: is every host ready (check), does what a distributed run needs
between hosts work (network), and, only when asked, set a host up (hostsetup)."""
