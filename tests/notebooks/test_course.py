"""The reading chapters in course/ run, and keep their promises.

Two kinds of test:

- **execution**: every ``course/*.ipynb`` runs top to bottom in a fresh kernel under nbval, in
  a subprocess (one test per notebook, so a failing chapter names itself and shows nbval's
  output). ``--nbval-lax`` checks that every cell runs; outputs are stored for readers, not
  compared.
- **structure**: each chapter has a graphviz diagram cell with a rendered picture, a link to
  its lab notebook, and every Chinese term of the notes' section(s) it covers written beside
  its English name on first use; and every Chinese term of the notes is in the glossary.

The term lists below are the notes' terms (``../shared/seed/``), section by section. When the
notes themselves are present next to the repository, a test checks that every listed term
really occurs in them, so the lists cannot drift into invention.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "course"
GLOSSARY = COURSE / "glossary.md"
SEED_NOTES = ROOT.parent / "shared" / "seed" / "000_9536240fc6c8322b.txt"

CHAPTERS = {
    "00": "00-distributed-systems",
    "01": "01-distributed-locks",
    "02": "02-distributed-transactions",
    "03": "03-clusters",
    "04": "04-microservices",
    "05": "05-rpc",
    "06": "06-dubbo",
    "07": "07-spring-cloud",
    "08": "08-service-discovery",
    "09": "09-zookeeper-data-model",
    "10": "10-zab",
}

LAB_NAMES = {
    "lab0-simulator", "lab1-db-lock", "lab2-redis-lock", "lab3-znode-tree", "lab4-zk-lock",
    "lab5-election", "lab6-sync", "lab7-broadcast", "lab8-rpc", "lab9-transactions",
}

# The labs each chapter must link to (it may link to more).
LABS = {
    "00": {"lab0-simulator"},
    "01": {"lab1-db-lock", "lab2-redis-lock", "lab4-zk-lock"},
    "02": {"lab9-transactions"},
    "03": {"lab0-simulator", "lab7-broadcast"},
    "04": {"lab8-rpc"},
    "05": {"lab8-rpc"},
    "06": {"lab8-rpc"},
    "07": {"lab8-rpc"},
    "08": {"lab8-rpc"},
    "09": {"lab3-znode-tree"},
    "10": {"lab5-election", "lab6-sync", "lab7-broadcast", "lab4-zk-lock"},
}

# The notes' Chinese terms, by the chapter that covers their section (syllabus.md). A term of
# a section covered by two chapters is listed under both.
NOTES_TERMS = {
    "00": ["分布式", "计算机", "程序", "数据", "网络", "计算"],
    "01": ["分布式锁", "进程", "线程", "资源", "单机部署", "并发", "互斥", "安全", "容错", "死锁",
           "客户端", "获取锁", "释放锁", "节点", "宕机", "数据库乐观锁", "加锁", "解锁", "Lua脚本"],
    "02": ["分布式事务", "事务"],
    "03": ["集群"],
    "04": ["微服务"],
    "05": ["远程过程调用", "协议", "通信", "客户端-服务端", "消息模式", "双端通信", "建立通信", "连接",
           "服务端", "服务寻址", "网络传输", "服务调用", "本地调用", "代理", "返回值", "结果返回"],
    "06": [],
    "07": [],
    "08": ["服务发现与注册", "负载均衡"],
    "09": ["开放源码", "分布式协调服务", "集群的管理者", "数据发布/订阅", "负载均衡", "命名服务",
           "分布式协调/通知", "集群管理", "master选举", "分布式锁", "分布式队列", "分布式一致性",
           "顺序一致性", "原子性", "单一视图", "可靠性", "实时性", "最终一致性", "部署模式",
           "单机部署", "集群部署", "伪集群部署", "实例", "节点", "命名空间", "文件系统",
           "文件节点", "目录节点", "树状的目录结构", "内存", "高吞吐", "低延迟", "节点类型",
           "持久节点", "临时节点", "生命周期", "持久顺序节点", "临时顺序节点", "顺序属性", "会话",
           "会话失效", "父节点", "自增整型数字", "事务", "通知机制"],
    "10": ["服务器", "角色", "事务请求", "非事务请求", "顺序性", "调度者", "投票", "选举",
           "工作状态", "寻找leader状态", "跟随者状态", "领导者状态", "观察者状态", "统称", "注册",
           "同步", "数据同步", "同步确认", "消息传递", "数据同步初始化", "直接差异化同步",
           "先回滚再差异化同步", "仅回滚同步", "全量同步", "原子广播", "Zab协议",
           "主从节点状态同步", "恢复模式", "崩溃", "大多数", "状态同步", "广播模式", "消息广播",
           "宕机处理", "副本", "超过半数", "分布式锁"],
}

# Terms the course itself adds for the chapters whose notes section has none (Dubbo's and
# Spring Cloud's own Chinese vocabulary), held to the same first-use rule and glossary.
COURSE_TERMS = {
    "06": ["服务治理", "提供者", "消费者", "注册中心", "监控中心", "集群容错", "容器", "权重", "加权随机",
           "平滑加权轮询", "最少活跃调用", "一致性哈希", "虚拟节点", "幂等", "重试", "超时", "去重",
           "失败自动切换", "快速失败", "失败安全", "失败自动恢复", "并行调用", "广播调用"],
    "07": ["组件", "服务发现", "熔断器", "网关", "配置中心"],
    "08": ["服务注册", "服务发现"],
}

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*[*_`]*\s*$")
ENGLISH_AFTER = re.compile(r"^\s*[(（]\s*[*_`]*[A-Za-z]")


def notebooks() -> list[Path]:
    return sorted(COURSE.glob("*.ipynb"))


def load(chapter: str) -> dict:
    return json.loads((COURSE / f"{CHAPTERS[chapter]}.ipynb").read_text(encoding="utf-8"))


def markdown(nb: dict) -> str:
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def first_use(text: str, term: str, others: list[str]) -> int:
    """Where `term` is first used on its own, not as part of a longer listed term.

    "事务" inside "分布式事务" is a use of the longer term; if the term never stands alone,
    its first occurrence of any kind counts.
    """
    covered = set()
    for longer in (o for o in others if term in o and o != term):
        for m in re.finditer(re.escape(longer), text):
            covered.update(range(m.start(), m.end()))
    alone = [m.start() for m in re.finditer(re.escape(term), text) if m.start() not in covered]
    return alone[0] if alone else text.find(term)


def glossed(text: str, term: str, others: list[str] = ()) -> bool:
    """Is the first use of `term` written beside an English name?

    Accepted: "English name (术语)" (possibly sharing the parentheses with other words, as in
    "(术语, 3.6.0)") or "术语 (English name)".
    """
    at = first_use(text, term, list(others))
    opening = max(text.rfind("(", 0, at), text.rfind("（", 0, at))
    if opening != -1 and not re.search(r"[)）\n]", text[opening:at]):
        if ENGLISH_BEFORE.search(text[:opening]):
            return True
    return bool(ENGLISH_AFTER.match(text[at + len(term):]))


def glossary_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and CJK.search(cells[0]) and cells[1] != "English":   # skip the header
            rows[cells[0]] = (cells[1], cells[2])
    return rows


# --------------------------------------------------------------------------- execution ----
@pytest.mark.parametrize("notebook", notebooks(), ids=lambda p: p.stem)
def test_notebook_runs(notebook: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", str(notebook)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"nbval failed for {notebook.name}:\n{proc.stdout}\n{proc.stderr}"


# --------------------------------------------------------------------------- structure ----
def test_every_chapter_exists_and_nothing_else() -> None:
    assert sorted(p.stem for p in notebooks()) == sorted(CHAPTERS.values())


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_chapter_shape(chapter: str) -> None:
    nb = load(chapter)
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith(f"# {chapter} ")
    assert CJK.search("".join(cells[0]["source"]).splitlines()[0]), "the title names the Chinese term"
    assert cells[1]["cell_type"] == "code" and "SEED" in "".join(cells[1]["source"])
    text = markdown(nb)
    assert "What " in text and "differently" in text, "a 'What ... does differently' section"
    assert "Open question" in text


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_self_test_cell_is_last_and_collapsed(chapter: str) -> None:
    # nbval runs it like any cell; JupyterLab shows it collapsed, so readers see no asserts.
    last = load(chapter)["cells"][-1]
    assert "def unit_tests()" in "".join(last["source"])
    assert "self-test" in last["metadata"].get("tags", [])
    assert last["metadata"].get("jupyter") == {"source_hidden": True, "outputs_hidden": True}


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_chapter_has_a_rendered_graphviz_diagram(chapter: str) -> None:
    drawn = [c for c in load(chapter)["cells"]
             if c["cell_type"] == "code" and "graphviz.Digraph" in "".join(c["source"])
             and any("image/svg+xml" in o.get("data", {}) for o in c.get("outputs", []))]
    assert drawn, "a code cell that builds a graphviz.Digraph and shows it (stored as SVG)"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_chapter_links_its_labs(chapter: str) -> None:
    linked = set(re.findall(r"\]\(\.\./labs/(lab\d-[a-z-]+)\.ipynb\)", markdown(load(chapter))))
    assert linked <= LAB_NAMES, f"unknown lab names {sorted(linked - LAB_NAMES)}"
    assert LABS[chapter] <= linked, f"missing links to {sorted(LABS[chapter] - linked)}"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_chinese_terms_beside_english_on_first_use(chapter: str) -> None:
    text = markdown(load(chapter))
    terms = NOTES_TERMS[chapter] + COURSE_TERMS.get(chapter, [])
    missing = [t for t in terms if t not in text]
    bare = [t for t in terms if t in text and not glossed(text, t, terms)]
    assert not missing, f"never used: {missing}"
    assert not bare, f"first use not beside an English name: {bare}"


def test_glossary_lists_every_term_of_the_notes() -> None:
    rows = glossary_rows()
    wanted = {t for terms in (*NOTES_TERMS.values(), *COURSE_TERMS.values()) for t in terms}
    assert not sorted(wanted - set(rows)), f"not in the glossary: {sorted(wanted - set(rows))}"
    for term, (english, chapters) in rows.items():
        assert english and not CJK.search(english), f"{term}: needs an English name"
        numbers = re.findall(r"\b(\d\d)\b", chapters)
        assert numbers and set(numbers) <= set(CHAPTERS), f"{term}: bad chapter reference {chapters!r}"


def test_glossary_points_to_a_chapter_that_introduces_the_term() -> None:
    for term, (_, chapters) in glossary_rows().items():
        first = re.findall(r"\b(\d\d)\b", chapters)[0]
        assert term in markdown(load(first)), f"{term} is not used in chapter {first}"


def test_listed_terms_come_from_the_notes() -> None:
    if not SEED_NOTES.exists():
        # CI lays shared/ beside the checkout, so there this check always runs.
        assert not os.environ.get("CI"), f"the notes are missing: {SEED_NOTES}"
        pytest.skip("the notes live outside the repository (in ../shared/seed/)")
    notes = SEED_NOTES.read_text(encoding="utf-8")
    invented = sorted({t for terms in NOTES_TERMS.values() for t in terms if t not in notes})
    assert not invented, f"listed as notes' terms but not in the notes: {invented}"
