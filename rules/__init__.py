"""Built-in rules (installed as `finops.rules`): metadata plus one SQL query each, run by the rules engine."""
