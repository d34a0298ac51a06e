"""Shadow deployment: the tee (events → shadow topic), joined champion/challenger results, comparison report."""
