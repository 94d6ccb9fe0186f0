"""Reading streams: the plan, the one sequential media pass, worker processes, Ctrl-C."""
