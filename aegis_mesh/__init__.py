"""The local mesh as processes: the table of its services and the manager that starts them."""
