"""One filter language for every saved condition over records: segment definitions and automation rule
conditions (and scoring rules) alike.

- `fields`: per record type, the whitelist of fields a condition may name, with their types. A new field
  (issue 19: custom fields) is one entry there, and both segments and automation offer it.
- `values`: parsing a condition's value for a field type (BadValue says what would fit).
- `language`: the operators, each implemented once as a query (Q) and as a check against a record in
  memory; validation of conditions and definitions; and the two spellings (dialects) that stored segments
  and stored rules were written in.

It sits above the record apps (it reads their models' choices) and below segments and automation: record
apps never import it, and it imports neither segments nor automation.
"""
