"""Unit tests of the policy pack rules, and the stack rules on the rendered real stacks."""
