"""Merges all/results.json with the street_pan_1080p t25s15 rerun (the records the first run
lost to its stall limit) into merged.json: python3 merge.py (from this folder)."""
import json
a = json.load(open('all/results.json'))
b = json.load(open('street-t25s15/results.json'))
keys = {(r['clip'], r['setting'], r['channel'], r['method']) for r in a}
add = [r for r in b if (r['clip'], r['setting'], r['channel'], r['method']) not in keys]
json.dump(a + add, open('merged.json', 'w'), indent=1)
print(len(a), "+", len(add), "records")
