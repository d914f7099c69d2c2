"""The single-table design: key builders (keys.py, whose docstring is the access-pattern table) and one
typed repository per aggregate, speaking domain models over the Table port."""
