"""Give solutions/*.ipynb nbgrader's cell metadata (idempotent); then run `distlab labs build`.

    .venv/bin/python scripts/nbgrader-metadata.py

Each graded cell (distlab.part) becomes an nbgrader solution cell with grade_id = the part; each
`check("part", fn)` cell becomes a locked grade cell worth the part's points (from the grader's
registry) with a hidden test that asserts the public checks. Run it after adding a part.
"""
import json, re, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from distlab.grading.parts import LABS, load_all
load_all()
for p in sorted((Path(__file__).resolve().parents[1] / "solutions").glob("*.ipynb")):
    nb = json.loads(p.read_text())
    lab = nb["metadata"]["distlab"]["lab"]
    points = {name: part.points for name, part in LABS[lab].parts.items()}
    graded, checked = set(), set()
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        src = "".join(c["source"])
        part = c.get("metadata", {}).get("distlab", {}).get("part")
        if part:
            c["metadata"]["nbgrader"] = {"grade": False, "grade_id": part, "locked": False,
                                         "schema_version": 3, "solution": True, "task": False}
            graded.add(part)
            continue
        # the function's name, or globals() (the capstone's check takes the whole namespace)
        m = re.match(r'check\("(\w+)", (\w+(?:\(\))?)\)\s*$', src.split("### BEGIN HIDDEN TESTS")[0].strip())
        if m:
            name, fn = m.groups()
            assert name in points, (p, name)
            visible = f'check("{name}", {fn})'
            if "### BEGIN HIDDEN TESTS" not in src:  # an existing hidden test is kept as written
                c["source"] = (f'{visible}\n### BEGIN HIDDEN TESTS\n'
                               f'assert check("{name}", {fn}, show=False), "{name} does not pass its public checks yet"\n'
                               f'### END HIDDEN TESTS').splitlines(keepends=True)
            c.setdefault("metadata", {})["nbgrader"] = {
                "grade": True, "grade_id": f"check_{name}", "locked": True, "points": points[name],
                "schema_version": 3, "solution": False, "task": False}
            checked.add(name)
    print(p.name, "graded", sorted(graded), "checked", sorted(checked), "points", points)
    assert set(points) == checked, (p, set(points) - checked)
    p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
