"""Migration timings over time: the history file (`history`) and the regression comparison
(`compare`)."""
