"""Merges all/results.json with the reruns of the records the first run lost to its stall
limit (street-t25s15/, cups-t25s15/, street-t25s15-crf18-28/) into merged.json:
python3 merge.py (from this folder)."""
import json
a = json.load(open('all/results.json'))
b = (json.load(open('street-t25s15/results.json')) + json.load(open('cups-t25s15/results.json'))
     + json.load(open('street-t25s15-crf18-28/results.json')))
keys = {(r['clip'], r['setting'], r['channel'], r['method']) for r in a}
add = [r for r in b if (r['clip'], r['setting'], r['channel'], r['method']) not in keys]
json.dump(a + add, open('merged.json', 'w'), indent=1)
print(len(a), "+", len(add), "records")
