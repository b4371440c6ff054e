"""`hc-tf node`'s parts without a network: the configuration, the journal's states and
idempotency, the spool's limit and crash recovery, measuring (dead letters), the sender's
backoff, and the CLI's one-line errors. The node against a real PACS: tests/node_pacs_test.py."""

import json
import os
import re
import time

import pytest

pydicom = pytest.importorskip("pydicom")

from click.testing import CliRunner  # noqa: E402

from hc_tf import cli  # noqa: E402
from hc_tf.node import config as config_lib  # noqa: E402
from hc_tf.node import destinations as dest_lib  # noqa: E402
from hc_tf.node import measure as measure_lib  # noqa: E402
from hc_tf.node import selection as selection_lib  # noqa: E402
from hc_tf.node import spool as spool_lib  # noqa: E402
from hc_tf.node import worker as worker_lib  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests import node_support  # noqa: E402

US = dicom_files.US_IMAGE
US_MULTI = dicom_files.US_MULTIFRAME
FOLDER = '[[destination]]\nkind = "folder"\npath = "out"\n'


def _toml(tmp_path, text):
    path = tmp_path / "node.toml"
    path.write_text(text)
    return str(path)


def test_config_reads_destinations_and_cli_overrides(tmp_path):
    path = _toml(tmp_path, '[node]\nspool = "s"\nallowed_calling_aets = ["SCAN"]\nport = 104\n'
                 '[[destination]]\nkind = "dicom"\nhost = "h"\nport = 4242\nae_title = "PACS"\n'
                 '[[destination]]\nkind = "folder"\nname = "copy"\npath = "/x"\n')
    cfg = config_lib.load(path, {"port": 11112, "host": None})
    assert cfg.port == 11112 and cfg.host == "127.0.0.1" and cfg.allowed_calling_aets == ("SCAN",)
    assert [(d.kind, d.name) for d in cfg.destinations] == [("dicom", "dicom1"), ("folder", "copy")]
    assert cfg.destinations[0].get("ae_title") == "PACS"
    hosts = _toml(tmp_path, '[node]\nspool = "s"\nallowed_calling_aets = ["US_ROOM1", "US 2"]\n'
                  'allowed_hosts = ["10.1.2.3", "fd00::1"]\n' + FOLDER)
    cfg = config_lib.load(hosts)
    assert cfg.allowed_calling_aets == ("US_ROOM1", "US 2")
    assert cfg.allowed_hosts == ("10.1.2.3", "fd00::1")
    edges = _toml(tmp_path, '[node]\nspool = "s"\nallow_any_calling_aet = true\nmin_free_mb = 0\n'
                  'retry_base_s = 5\nretry_max_s = 5\n' + FOLDER)
    cfg = config_lib.load(edges)
    assert (cfg.min_free_mb, cfg.retry_base_s, cfg.retry_max_s) == (0, 5, 5)


@pytest.mark.parametrize("text, words", [
    ('[node]\nspool = "s"\n', "allowed_calling_aets is empty"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n', "no [[destination]]"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nprot = 1\n', "unknown key(s) prot"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n[[destination]]\nkind = "ftp"\n',
     "kind 'ftp'"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n[[destination]]\nkind = "dicom"\n',
     "lacks host, port, ae_title"),
    ('[node\n', "node.toml"),
    # a bare string was taken letter by letter: "U", "S", "_" ... allowed, US_ROOM1 refused
    ('[node]\nspool = "s"\nallowed_calling_aets = "US_ROOM1"\n' + FOLDER,
     "[node] allowed_calling_aets 'US_ROOM1': a list in brackets"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["US_ROOM1", 7]\n' + FOLDER,
     "[node] allowed_calling_aets ['US_ROOM1', 7]: a list in brackets"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["US_ROOM1", "ULTRASOUND_ROOM_17"]\n' + FOLDER,
     "[node] allowed_calling_aets: 'ULTRASOUND_ROOM_17': 1 to 16 characters"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["  "]\n' + FOLDER,
     "[node] allowed_calling_aets: '  ': 1 to 16 characters"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["US\\\\1"]\n' + FOLDER,
     "no backslash"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["S"]\nallowed_hosts = "10.1.2.3"\n' + FOLDER,
     "[node] allowed_hosts '10.1.2.3': a list in brackets"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["S"]\nallowed_hosts = ["scanner1.local"]\n'
     + FOLDER, "[node] allowed_hosts: 'scanner1.local' is not an IP address"),
    ('[node]\nspool = "s"\nallowed_calling_aets = ["S"]\nae_title = 7\n' + FOLDER,
     "[node] ae_title 7: text in quotes"),
    # wrongly typed values: a traceback each (ValueError, TypeError), or, for a port of
    # 11112.7, one from socket.bind once the node had started
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nport = "abc"\n' + FOLDER,
     "[node] port 'abc': a whole number"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nport = 11112.7\n' + FOLDER,
     "[node] port 11112.7: a whole number"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nworkers = "2"\n' + FOLDER,
     "[node] workers '2': a whole number"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nspool_limit_mb = "big"\n' + FOLDER,
     "[node] spool_limit_mb 'big': MiB > 0"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nspool_limit_mb = inf\n' + FOLDER,
     "[node] spool_limit_mb inf: MiB > 0"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nretry_base_s = true\n' + FOLDER,
     "[node] retry_base_s True: seconds > 0"),
    # retry_max_s = 0 retried a PACS that was down 35 times in 6 s
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nretry_max_s = 0\n' + FOLDER,
     "[node] retry_max_s 0: seconds > 0"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nretry_base_s = 0\n' + FOLDER,
     "[node] retry_base_s 0: seconds > 0"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nretry_max_s = 1.5\n' + FOLDER,
     "[node] retry_max_s 1.5: at least retry_base_s (2.0)"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nmin_free_mb = -5\n' + FOLDER,
     "[node] min_free_mb -5: MiB >= 0"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nworkers = -1\n' + FOLDER,
     "[node] workers -1: 0 (one per core) or more"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = "yes"\n' + FOLDER,
     "[node] allow_any_calling_aet 'yes': true or false"),
    ('[node]\nspool = 5\nallow_any_calling_aet = true\n' + FOLDER,
     "[node] spool 5: text in quotes"),
    ('node = 5\n', "node 5: a [node] table"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\ndestination = "pacs"\n',
     "unknown key(s) destination"),
    ('destination = "pacs"\n[node]\nspool = "s"\nallow_any_calling_aet = true\n',
     "destination 'pacs': a [[destination]] table"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n[[destination]]\nkind = "dicom"\n'
     'host = "h"\nport = "4242"\nae_title = "PACS"\n',
     "destination 1 (dicom) port '4242': a TCP port"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n[[destination]]\nkind = "dicom"\n'
     'host = "h"\nport = 4242\nae_title = "PACS\\\\1"\n', "destination 1 (dicom) ae_title"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n[[destination]]\nkind = "dicomweb"\n'
     'url = "pacs/dicom-web"\n', "destination 1 (dicomweb) url 'pacs/dicom-web': an http://"),
    ('[node]\nspool = "s"\n' + FOLDER + '[[pull]]\nkind = "orthanc"\nurl = "http://p"\n'
     'poll_s = 0\n', "pull 1 (orthanc) poll_s 0: seconds > 0"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nmax_associations = 0\n' + FOLDER,
     "max_associations 0: a whole number >= 1"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nmax_associations = "4"\n' + FOLDER,
     "max_associations '4'"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nmax_associations = true\n' + FOLDER,
     "max_associations True"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nfhir_patient_system = "HOSP A"\n'
     + FOLDER, "[node] fhir_patient_system 'HOSP A' is not an absolute URI"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nfhir_patient_system = "urn:oid:1.02"\n'
     + FOLDER, "[node] fhir_patient_system 'urn:oid:1.02'"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nfhir_patient_system = 7\n' + FOLDER,
     "[node] fhir_patient_system 7"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nframes = "first"\n' + FOLDER,
     "[node] frames 'first': one of 'all', 'single'"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nobgyn_report = "yes"\n' + FOLDER,
     "[node] obgyn_report 'yes': true or false"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\nmeasure_only = "head"\n' + FOLDER,
     "[node] measure_only 'head': a table of DICOM keyword"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n' + FOLDER
     + '[node.measure_only]\nSeriesDescriptoin = "head"\n',
     "[node] measure_only 'SeriesDescriptoin' is not a DICOM keyword"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n' + FOLDER
     + '[node.measure_only]\nReferencedImageSequence = "x"\n',
     "ReferencedImageSequence is a sequence"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n' + FOLDER
     + '[node.measure_only]\nSeriesDescription = "(head"\n',
     "SeriesDescription = '(head' is not a regular expression"),
    ('[node]\nspool = "s"\nallow_any_calling_aet = true\n' + FOLDER
     + '[node.measure_only]\nSeriesDescription = 3\n',
     "SeriesDescription = 3: a regular expression in quotes"),
])
def test_config_refusals_name_the_file_and_key(tmp_path, text, words):
    path = _toml(tmp_path, text)
    with pytest.raises(config_lib.ConfigError, match="node.toml") as err:
        config_lib.load(path)
    assert words in str(err.value)


def test_spool_stores_once_per_sop_uid_and_journal_walks_the_states(tmp_path):
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    first = spool.store(b"x" * 100, "1.2.3", US, "SCAN")
    assert spool.store(b"y" * 100, "1.2.3", US, "SCAN") is None  # a resend: nothing new
    assert spool.journal.received() == [first] and spool.used_bytes == 100
    name = spool.journal.row(first)["file"]
    assert "1.2.3" not in name and open(spool.image_path(name), "rb").read() == b"x" * 100
    spool.journal.mark_measured(first, ["sr/a.sr.dcm"], ["pacs", "web"], 12.0)
    assert not spool.journal.delivery_done(first, "pacs", "sent")
    assert spool.journal.delivery_done(first, "web", "sent")
    status = spool.journal.status()
    assert status["instances"] == {"done": 1} and status["backlog"] == 0
    assert status["destinations"]["pacs"]["sent"] == 1


def test_the_spool_is_private_whatever_the_umask_a_spool_made_before_included(tmp_path):
    """Images and the journal (patient data) were written 0644, and a spool folder made
    before kept its mode (makedirs(mode=0o700, exist_ok=True) changes none)."""
    import stat
    root = tmp_path / "spool"
    for d in ("", "in", "out", "hdr"):
        os.makedirs(root / d, mode=0o755, exist_ok=True)
        os.chmod(root / d, 0o755)
    (root / "journal.sqlite").write_bytes(b"")  # an empty file is an empty SQLite database
    os.chmod(root / "journal.sqlite", 0o644)
    mask = os.umask(0o022)
    try:
        spool = spool_lib.Spool(str(root), 10**9)
        i = spool.store(b"x" * 10, "1.2.3", US, "SCAN")
        os.makedirs(os.path.join(spool.out_dir(i), "sr"))
        with open(os.path.join(spool.out_dir(i), "sr", "a.sr.dcm"), "wb") as f:
            f.write(b"sr")
        spool.sync_outputs(i, ["sr/a.sr.dcm"])
        spool.keep_header(i, dicom_files.gray_dataset("000_HC.png"))
    finally:
        os.umask(mask)
    modes = {os.path.relpath(os.path.join(d, n), root): stat.S_IMODE(os.stat(os.path.join(d, n))
                                                                      .st_mode)
             for d, dirs, files in os.walk(root) for n in dirs + files}
    assert modes and all(m == (0o700 if os.path.isdir(root / p) else 0o600)
                         for p, m in modes.items()), {p: oct(m) for p, m in modes.items()}
    assert {"journal.sqlite", "journal.sqlite-wal", f"hdr/{i}.dcm", "out/1/sr/a.sr.dcm"} <= \
        set(modes)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


def test_a_second_node_on_a_spool_is_refused_before_it_touches_it(tmp_path):
    """A second `serve` on the same config recovered the spool (deleting files of the first
    node's work it did not know of) and purged its journal for ~10 s, then failed to bind."""
    root = tmp_path / "spool"
    held = spool_lib.lock(str(root))
    os.makedirs(root / "in")
    (root / "in" / ".tmp999-0").write_bytes(b"the first node's image, being written")
    path = _toml(tmp_path, f'[node]\nspool = "{root}"\nallowed_calling_aets = ["S"]\n' + FOLDER)
    try:
        result = CliRunner().invoke(cli.main, ["node", "serve", "--config", path])
    finally:
        os.close(held)
    assert result.exit_code == 1 and result.output == (
        f"Error: {path}: [node] spool '{root}': in use by another hc-tf node (pid "
        f"{os.getpid()}): one node per spool\n"), result.output
    assert (root / "in" / ".tmp999-0").exists() and not (root / "journal.sqlite").exists()
    os.close(spool_lib.lock(str(root)))  # free again once the first has gone


def test_spool_over_its_limit_refuses_and_recovery_drops_unacknowledged_files(tmp_path):
    spool = spool_lib.Spool(str(tmp_path / "spool"), 150)
    spool.store(b"x" * 100, "1.2.3", US, "SCAN")
    with pytest.raises(spool_lib.SpoolFull):
        spool.store(b"y" * 100, "1.2.4", US, "SCAN")
    assert not spool.full() and spool.full(60)
    stray = os.path.join(spool.incoming, spool.image_name("9.9"))  # on disk, never journalled
    open(stray, "wb").write(b"z")
    again = spool_lib.Spool(str(tmp_path / "spool"), 150)  # a restart
    again.recover()
    assert not os.path.exists(stray) and again.journal.received() == [1]
    again.journal.mark_measured(1, [], [], 1.0)  # killed before the image was deleted
    spool_lib.Spool(str(tmp_path / "spool"), 150).recover()
    assert os.listdir(again.incoming) == []


def test_a_refusal_names_the_limit_it_hit_the_spools_size_or_the_free_disk(tmp_path):
    """The free-disk floor had been reported in the size limit's words ("spool 109024 bytes,
    limit 2147483648"), which sent an operator to spool_limit_mb."""
    spool = spool_lib.Spool(str(tmp_path / "spool"), 150)
    spool.store(b"x" * 100, "1.2.3", US, "SCAN")
    with pytest.raises(spool_lib.SpoolFull, match=r"spool 100 bytes \+ 100, over its limit of "
                                                  r"150 \(spool_limit_mb\)"):
        spool.store(b"y" * 100, "1.2.4", US, "SCAN")
    free = spool_lib.shutil.disk_usage(spool.root).free
    disk = spool_lib.Spool(str(tmp_path / "spool2"), 2 << 30, min_free_mb=free * 2 / 2**20)
    with pytest.raises(spool_lib.SpoolFull) as err:
        disk.store(b"y" * 100, "1.2.4", US, "SCAN")
    assert "below the" in str(err.value) and "kept free (min_free_mb)" in str(err.value)
    assert "limit" not in str(err.value)
    assert "(min_free_mb)" in disk.why_full() and disk.full()
    assert spool.why_full() is None and "(spool_limit_mb)" in spool.why_full(60)


def test_recovery_removes_the_srs_nothing_will_send_and_keeps_the_rest(tmp_path):
    """SRs hold patient data: after a kill between a delivery's record and the folder's removal
    they stayed in out/ for good (counted against the limit too), as did a dead letter's folder
    and the part an interrupted measurement wrote. Kept: SRs still to send, and those of a
    refused delivery, to be sent by hand."""
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    ids = [spool.store(b"x" * 10, f"1.2.{k}", US, "SCAN") for k in range(6)]
    sent, pending, refused, dead, unmeasured, unknown = ids[:5] + [99]
    for i in (sent, pending, refused):
        spool.journal.mark_measured(i, ["a.sr.dcm"], ["pacs"], 1.0)
    spool.journal.delivery_done(sent, "pacs", "sent")  # killed before drop_outputs
    spool.journal.delivery_done(refused, "pacs", "dead", "0xC000")
    spool.journal.mark_dead(dead, "not DICOM")
    for i in (sent, pending, refused, dead, unmeasured, unknown):
        os.makedirs(spool.out_dir(i))
        open(os.path.join(spool.out_dir(i), "a.sr.dcm"), "wb").write(b"SR" * 50)
    restarted = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    restarted.recover()
    assert sorted(os.listdir(restarted.outgoing)) == sorted([str(pending), str(refused)])
    assert restarted.used_bytes == 2 * 100 + 3 * 10  # two SR folders; dead + 2 unmeasured images


@pytest.fixture(scope="module")
def runner():
    from hc_tf import inference, models
    return inference.load_runner(models.released_edge_model(), num_threads=1)


def test_measure_writes_an_sr_and_dead_letters_say_why(tmp_path, runner):
    from hc_tf.report import dicom_sr, dicom_sr_read
    head = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "a.dcm"))
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    outputs, summary = measure_lib.measure_file(runner, head, str(tmp_path / "out"), run)
    assert measure_lib.sr_files(outputs) == ["sr/a.sr.dcm"] and summary["found"] == 1
    back = dicom_sr_read.read_back(str(tmp_path / "out" / "sr" / "a.sr.dcm"))
    assert back["hc_mm"] == pytest.approx(summary["hc_mm"][0], abs=0.01)
    gray = dicom_files.cv2.imread(dicom_files.head_png("000_HC.png"), 0)
    nocal = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "b.dcm"))
    with pytest.raises(measure_lib.Dead) as err:
        measure_lib.measure_file(runner, nocal, str(tmp_path / "out2"), run)
    assert "(0018,6011)" in str(err.value) and str(tmp_path) not in str(err.value)
    open(tmp_path / "c.dcm", "wb").write(b"\0" * 128 + b"DICM" + b"\1" * 50)
    with pytest.raises(measure_lib.Dead, match="(not a readable DICOM file|Rows)"):
        measure_lib.measure_file(runner, str(tmp_path / "c.dcm"), str(tmp_path / "o3"), run)


def test_the_node_dates_a_centile_by_the_files_last_menstrual_date(tmp_path, runner):
    """A node has no GA typed: a file's Last Menstrual Date at its StudyDate gives the SR and
    the FHIR Observation the HC's centile, as `hc-tf predict` gives it; a date that cannot
    date it is a note naming the tags (never the date) and no centile."""
    from hc_tf.report import dicom_sr, dicom_sr_read, fhir
    from hc_tf.surfaces import predict as predict_lib
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    paths = {}
    for stem, lmp in (("dated", "20260122"), ("bad", "20261399")):
        ds = dicom_files.gray_dataset("207_HC.png")
        with pydicom.config.disable_value_validation():  # a scanner's bad date
            ds.StudyDate, ds.LastMenstrualDate = "20260601", lmp
        paths[stem] = dicom_files.save(ds, str(tmp_path / f"{stem}.dcm"))
    outputs, summary = measure_lib.measure_file(runner, paths["dated"], str(tmp_path / "d"), run)
    [want] = predict_lib.predict_files(__import__("hc_tf.models").models.released_edge_model(),
                                       [paths["dated"]], str(tmp_path / "p")).records
    back = dicom_sr_read.read_back(str(tmp_path / "d" / outputs[0]))
    assert back["hc_centile"] == pytest.approx(want["centile"]["centile"], abs=1e-4)
    bundle = json.loads((tmp_path / "d" / outputs[1]).read_text())
    assert fhir.bundle_observations(bundle)["hc"]["interpretation"][0]["text"] == \
        want["centile"]["display"]
    assert not summary["sr_notes"]
    outputs, summary = measure_lib.measure_file(runner, paths["bad"], str(tmp_path / "b"), run)
    assert dicom_sr_read.read_back(str(tmp_path / "b" / outputs[0]))["hc_centile"] is None
    assert "Last Menstrual Date (0010,21D0) is not a date: no GA from dating" in summary["sr_notes"]
    assert "1399" not in json.dumps(summary)  # (the SR's own note says it is left empty there)


def test_frames_single_keeps_a_cine_loop_unmeasured_and_says_why(tmp_path, runner, monkeypatch):
    """Every frame of a cine gets an SR by default (120 frames: 120 SRs in the PACS); with
    [node] frames = "single" a multi-frame file is measured to no SR, its journal note saying
    why, while a single-frame image is measured as before, its header read once."""
    from hc_tf.io import dicom
    from hc_tf.report import dicom_sr
    headers = []
    read_header = dicom.read_header
    monkeypatch.setattr(dicom, "read_header", lambda path: headers.append(path) or read_header(path))
    gray = dicom_files.cv2.imread(dicom_files.head_png("000_HC.png"), 0)
    h, w = gray.shape
    px = dicom_files.head_pixel_sizes()["000_HC.png"]
    cine = dicom_files.save(dicom_files.dataset([gray, gray[:, ::-1].copy()], regions=[
        dicom_files.region((0, 0, w - 1, h - 1), px)]), str(tmp_path / "cine.dcm"))
    head = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "a.dcm"))
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    every, summary = measure_lib.measure_file(runner, cine, str(tmp_path / "o1"), run)
    assert len(measure_lib.sr_files(every)) == 2 and summary["frames"] == 2
    single = selection_lib.Selection(frames="single")
    none, summary = measure_lib.measure_file(runner, cine, str(tmp_path / "o2"), run, single)
    assert none == [] and summary["found"] == 0 and "2 frames" in summary["skipped"]
    assert not os.listdir(tmp_path / "o2")
    headers.clear()
    one, _ = measure_lib.measure_file(runner, head, str(tmp_path / "o3"), run, single)
    assert measure_lib.sr_files(one) == ["sr/a.sr.dcm"] and headers == [head]
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    i = spool.store(open(cine, "rb").read(), "1.2.3", US_MULTI, "SCAN")
    worker_lib.Measurer(spool, runner, run, ["pacs"], 0, single).measure(i)
    row = spool.journal.row(i)
    assert row["state"] == "done" and json.loads(row["outputs"]) == []
    assert 'not measured: 2 frames (a cine loop) and [node] frames = "single"' in row["reason"]
    assert config_lib.load(_toml(tmp_path, '[node]\nspool = "s"\nallow_any_calling_aet = true\n'
                                 + FOLDER)).frames == "all"


def test_measure_only_leaves_out_images_whose_attributes_do_not_match(tmp_path, runner):
    """[node.measure_only] from the TOML: a head labelled so is measured; an abdomen, an image
    without the attribute, or one failing the second rule is journalled unmeasured, the note
    naming the keyword and never the value; a multi-valued attribute is matched as DICOM
    writes it (backslashes)."""
    from hc_tf.report import dicom_sr
    cfg = config_lib.load(_toml(tmp_path, '[node]\nspool = "s"\nallow_any_calling_aet = true\n'
                                + FOLDER + '[node.measure_only]\n'
                                'SeriesDescription = "(?i)\\\\bhead\\\\b"\n'
                                'ImageType = "^ORIGINAL\\\\\\\\PRIMARY"\n'))
    assert cfg.measure_only == (("SeriesDescription", r"(?i)\bhead\b"),
                                ("ImageType", r"^ORIGINAL\\PRIMARY"))
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    files = {}
    for name, description, image_type in [("head", "Fetal HEAD biometry", ["ORIGINAL", "PRIMARY"]),
                                          ("abdomen", "Abdomen AC", ["ORIGINAL", "PRIMARY"]),
                                          ("unlabelled", None, ["ORIGINAL", "PRIMARY"]),
                                          ("derived", "head", ["DERIVED", "PRIMARY"])]:
        ds = dicom_files.gray_dataset("000_HC.png")
        if description is not None:
            ds.SeriesDescription = description
        ds.ImageType = image_type
        files[name] = dicom_files.save(ds, str(tmp_path / f"{name}.dcm"))
    measured, summary = measure_lib.measure_file(runner, files["head"], str(tmp_path / "o1"), run,
                                                 cfg.selection)
    assert measure_lib.sr_files(measured) == ["sr/head.sr.dcm"] and "skipped" not in summary
    for name, keyword in [("abdomen", "SeriesDescription"), ("unlabelled", "SeriesDescription"),
                          ("derived", "ImageType")]:
        out = tmp_path / f"o_{name}"
        none, summary = measure_lib.measure_file(runner, files[name], str(out), run, cfg.selection)
        assert none == [] and not os.listdir(out)
        assert summary["skipped"] == f"not measured: {keyword} does not match [node] measure_only"
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    i = spool.store(open(files["abdomen"], "rb").read(), "1.2.3", US, "SCAN")
    worker_lib.Measurer(spool, runner, run, ["pacs"], 0, cfg.selection).measure(i)
    row = spool.journal.row(i)
    assert row["state"] == "done" and json.loads(row["outputs"]) == []
    assert "SeriesDescription does not match" in row["reason"] and "Abdomen" not in row["reason"]


def test_the_measure_only_example_in_docs_node_md_runs_as_it_says(tmp_path):
    import re
    from pydicom.dataset import Dataset
    docs = open(os.path.join(os.path.dirname(__file__), "..", "docs", "node.md")).read()
    block = re.search(r"```toml\n(\[node\.measure_only\].*?)```", docs, re.S).group(1)
    cfg = config_lib.load(_toml(tmp_path, '[node]\nspool = "s"\nallow_any_calling_aet = true\n'
                                + FOLDER + block))
    header = lambda text: type("Header", (), {"frames": 1, "dataset": Dataset()})()  # noqa: E731
    said = {}
    for text in ["Fetal HEAD", "HC plane", "BPD/OFD", "Abdomen AC", "Headless", "Femur"]:
        h = header(text)
        h.dataset.SeriesDescription = text
        said[text] = cfg.selection.why_not(h) is None
    assert said == {"Fetal HEAD": True, "HC plane": True, "BPD/OFD": True, "Abdomen AC": False,
                    "Headless": False, "Femur": False}


def test_the_push_example_in_docs_node_md_loads_with_every_key_uncommented(tmp_path):
    """Its TLS line held three keys on one line: invalid TOML once uncommented."""
    import re
    docs = open(os.path.join(os.path.dirname(__file__), "..", "docs", "node.md")).read()
    block = re.search(r"\(push\)\.\*\*.*?```toml\n(.*?)```", docs, re.S).group(1)
    text = re.sub(r"^# (\w+ = )", r"\1", block, flags=re.M)  # "# key = value  # why"
    cfg = config_lib.load(_toml(tmp_path, text))
    assert (cfg.tls_cert, cfg.tls_key, cfg.tls_ca) == ("node.pem", "node.key", "scanners-ca.pem")
    assert cfg.allowed_hosts == ("10.1.2.3",) and cfg.network_timeout_s == 60.0
    assert [d.kind for d in cfg.destinations] == ["dicom", "dicomweb", "folder", "fhir"]


def test_a_rule_reads_a_bounded_part_of_an_untrusted_value():
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.ImageComments = "x" * 10_000 + "head"
    assert selection_lib.attribute_text(ds, "ImageComments") == "x" * selection_lib.MAX_VALUE_CHARS
    assert selection_lib.attribute_text(ds, "SeriesDescription") == ""


def test_a_dead_letter_leaves_no_output_folder(tmp_path, runner):
    from hc_tf.report import dicom_sr
    gray = dicom_files.cv2.imread(dicom_files.head_png("000_HC.png"), 0)
    nocal = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "b.dcm"))
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    i = spool.store(open(nocal, "rb").read(), "1.2.3", US, "SCAN")
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    worker_lib.Measurer(spool, runner, run, ["pacs"], 0).measure(i)
    assert spool.journal.row(i)["state"] == "dead"
    assert not os.path.exists(spool.out_dir(i)), os.listdir(spool.outgoing)


class _Crash(BaseException):
    """What a decoder's segfault or the out-of-memory killer does to the node, for a test."""


def test_a_file_that_stops_the_node_twice_is_set_aside(tmp_path, runner, monkeypatch):
    """A file whose measuring kills the node (a native decoder's crash, an out-of-memory kill)
    would be measured again after every restart, and the node never get past it: its measuring
    is counted before it begins, and after two that never ended it is a dead letter, the image
    kept, so that the rest is measured."""
    from hc_tf.report import dicom_sr
    head = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "a.dcm"))
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    bad = spool.store(open(head, "rb").read(), "1.2.3", US, "SCAN")
    good = spool.store(open(head, "rb").read(), "1.2.4", US, "SCAN")
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    measure_file = measure_lib.measure_file

    def crashing(pool, path, *args):
        if path == spool.image_path(spool.journal.row(bad)["file"]):
            raise _Crash()
        return measure_file(pool, path, *args)

    monkeypatch.setattr(measure_lib, "measure_file", crashing)
    for start in (1, 2):  # two starts of the node, each killed while measuring it
        with pytest.raises(_Crash):
            worker_lib.Measurer(spool, runner, run, ["pacs"], 0).measure(bad)
        row = spool.journal.row(bad)
        assert (row["state"], row["measure_starts"]) == ("received", start)
    worker_lib.Measurer(spool, runner, run, ["pacs"], 0).measure(bad)  # the third start
    row = spool.journal.row(bad)
    assert row["state"] == "dead" and row["reason"] == (
        "measuring it stopped the node 2 times (a crash or an out-of-memory kill): set aside")
    assert os.path.isfile(spool.image_path(row["file"])) and not os.path.exists(spool.out_dir(bad))
    worker_lib.Measurer(spool, runner, run, ["pacs"], 0).measure(good)
    assert spool.journal.row(good)["state"] == "measured"


def test_a_full_disk_retried_is_not_counted_as_a_crash(tmp_path, runner, monkeypatch):
    """A measuring that fails on a full disk is tried again by the pool: however many times,
    it is not an interrupted measuring, and the image is measured once the disk has room."""
    from hc_tf.report import dicom_sr
    head = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "a.dcm"))
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    i = spool.store(open(head, "rb").read(), "1.2.3", US, "SCAN")
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    measure_file, full = measure_lib.measure_file, [3]

    def disk_full_thrice(*args):
        if full[0]:
            full[0] -= 1
            raise OSError(28, "No space left on device")
        return measure_file(*args)

    monkeypatch.setattr(measure_lib, "measure_file", disk_full_thrice)
    monkeypatch.setattr(worker_lib, "DISK_RETRY_S", 0.01)
    measurer = worker_lib.Measurer(spool, runner, run, ["pacs"], 1)
    measurer.start()
    try:
        for _ in range(400):
            if spool.journal.row(i)["state"] != "received":
                break
            time.sleep(0.05)
    finally:
        measurer.stop()
    row = spool.journal.row(i)
    assert (row["state"], full[0]) == ("measured", 0), row["reason"]


def test_a_journal_from_before_the_measure_count_gets_it(tmp_path):
    import sqlite3
    from hc_tf.node import journal as journal_lib
    path = str(tmp_path / "journal.sqlite")
    old = sqlite3.connect(path)
    old.executescript(journal_lib._SCHEMA.replace(",\n  measure_starts INTEGER NOT NULL DEFAULT 0", ""))
    assert "measure_starts" not in {r[1] for r in old.execute("PRAGMA table_info(instances)")}
    old.execute("INSERT INTO instances (sop_uid, state) VALUES ('1.2.3', 'received')")
    old.commit()
    old.close()
    journal = journal_lib.Journal(path)
    assert journal.row(1)["measure_starts"] == 0
    journal.begin_measuring(1)
    assert journal.row(1)["measure_starts"] == 1


def test_srs_are_on_disk_before_the_journal_says_measured(tmp_path, runner, monkeypatch):
    """Once measured, the image is deleted: a power loss must not find the SRs unwritten (they
    were renamed into place, not flushed)."""
    from hc_tf.io import atomic
    from hc_tf.report import dicom_sr
    head = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "a.dcm"))
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    i = spool.store(open(head, "rb").read(), "1.2.3", US, "SCAN")
    events = []
    monkeypatch.setattr(atomic, "fsync_path", lambda p: events.append(("fsync", p)))
    mark = spool.journal.mark_measured
    monkeypatch.setattr(spool.journal, "mark_measured",
                        lambda *a, **k: (events.append(("measured", None)), mark(*a, **k)))
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    worker_lib.Measurer(spool, runner, run, ["pacs"], 0).measure(i)
    outputs = json.loads(spool.journal.row(i)["outputs"])
    assert outputs and events[-1] == ("measured", None)
    synced = {p for kind, p in events if kind == "fsync"}
    folder = spool.out_dir(i)
    assert {os.path.join(folder, f) for f in outputs} | {folder, spool.outgoing} <= synced
    assert {os.path.dirname(os.path.join(folder, f)) for f in outputs} <= synced


class _Peer:
    """What inbound_bound's handlers see of an association: its socket, and the events."""

    def __init__(self):
        self.read = []
        self.dul = type("Dul", (), {})()
        self.dul.socket = type("Sock", (), {})()
        self.dul.socket.recv = lambda n: self.read.append(n) or bytearray(b"x" * n)

    def pdu(self, *fragments):
        items = [type("Pdv", (), {"presentation_data_value": f})() for f in fragments]
        return type("Event", (), {"assoc": self, "pdu": type("Pdu", (), {
            "presentation_data_value_items": items})()})()


def test_a_peer_cannot_make_the_node_hold_more_than_the_input_limit():
    """A PDU is read at the length its header states, and a message's fragments are held
    until it ends: a PDU over the limit is not read, nor anything after a command or dataset
    whose fragments pass it; a message's last fragment starts the count again."""
    from hc_tf.node import scp as scp_lib
    (_, on_open), (_, on_pdu) = scp_lib.inbound_bound(1000)
    big = _Peer()
    on_open(type("Event", (), {"assoc": big})())
    on_pdu(big.pdu())  # the association request
    assert big.dul.socket.recv(6) == b"x" * 6
    assert big.dul.socket.recv(1000 + scp_lib.PDU_SLACK + 1) == bytearray() and big.read == [6]
    peer = _Peer()
    on_open(type("Event", (), {"assoc": peer})())
    on_pdu(peer.pdu(b"\x03" + b"c" * 900, b"\x00" + b"d" * 600, b"\x02" + b"d" * 300))
    on_pdu(peer.pdu(b"\x00" + b"d" * 999))  # a whole message before: this one starts at 0
    assert peer.dul.socket.recv(6) == b"x" * 6
    on_pdu(peer.pdu(b"\x00" + b"d" * 2))  # 1001 dataset bytes of one message
    assert peer.dul.socket.recv(6) == bytearray() and peer.read == [6]


def test_an_association_request_is_read_only_up_to_its_own_small_limit():
    """The A-ASSOCIATE-RQ is read before the association is counted against max_associations:
    over REQUEST_MAX_BYTES it is not read (a real one is a few kB), whatever the input limit;
    once a PDU has been read, PDUs up to the input limit are."""
    from hc_tf.node import scp as scp_lib
    (_, on_open), (_, on_pdu) = scp_lib.inbound_bound(10 * scp_lib.REQUEST_MAX_BYTES)
    peer = _Peer()
    on_open(type("Event", (), {"assoc": peer})())
    assert peer.dul.socket.recv(scp_lib.REQUEST_MAX_BYTES + 1) == bytearray() and not peer.read
    ok = _Peer()
    on_open(type("Event", (), {"assoc": ok})())
    assert len(ok.dul.socket.recv(scp_lib.REQUEST_MAX_BYTES)) == scp_lib.REQUEST_MAX_BYTES
    on_pdu(ok.pdu())  # the request was read: now a P-DATA PDU up to the input limit is
    assert len(ok.dul.socket.recv(2 * scp_lib.REQUEST_MAX_BYTES)) == 2 * scp_lib.REQUEST_MAX_BYTES


def test_the_log_says_why_an_association_or_a_sop_class_was_refused(tmp_path, caplog):
    """A wrong called AE title logged only {"calling_aet_allowed": true}, an unknown calling
    one and a refused address not who; an SR sent to the node (a class it does not take) left
    no line at all. Each now names the reason, the AE titles and the peer's address."""
    import logging
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE
    from hc_tf.node import scp as scp_lib
    sr_class = dest_lib.SR_CLASSES[0]

    def serve(**node):
        cfg = config_lib.NodeConfig(spool=str(tmp_path / "spool"), ae_title="HCTF",
                                    allowed_calling_aets=("US_ROOM1",), **node)
        ae, handlers = scp_lib.make_ae(cfg, spool_lib.Spool(cfg.spool, 10**9), lambda i: None)
        return ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)

    def ask(server, calling, called="HCTF", sop_classes=(US,)):
        scu = AE(ae_title=calling)
        for sop_class in sop_classes:
            scu.add_requested_context(sop_class, pydicom.uid.ExplicitVRLittleEndian)
        assoc = scu.associate("127.0.0.1", server.server_address[1], ae_title=called)
        if assoc.is_established:
            assoc.release()
        return assoc

    def lines(event):
        for _ in range(50):  # the server's thread logs after it has answered
            found = [json.loads(r.getMessage()) for r in caplog.records
                     if f'"event": "{event}"' in r.getMessage()]
            if found:
                return found
            time.sleep(0.05)
        return []

    caplog.set_level(logging.INFO, logger="hc_tf.node")
    server = serve()
    try:
        assert ask(server, "US_ROOM1", called="PACS").is_rejected
        assert ask(server, "INTRUDER").is_rejected
        assert not ask(server, "US_ROOM1", sop_classes=(sr_class, US)).is_rejected
        assert not ask(server, "US_ROOM1", sop_classes=(sr_class,)).is_established
        assert not ask(server, "US_ROOM1", sop_classes=(sr_class,)).is_established  # said once
    finally:
        server.shutdown()
    who = {"peer": "127.0.0.1", "called_aet": "HCTF"}
    assert lines("rejected") == [
        {"event": "rejected", "reason": "called AE title is not this node's (HCTF)",
         **who, "calling_aet": "US_ROOM1", "called_aet": "PACS"},
        {"event": "rejected", "reason": "calling AE title not allowed", **who,
         "calling_aet": "INTRUDER"}]
    assert lines("contexts_refused") == [
        {"event": "contexts_refused", "sop_classes": [sr_class], **who,
         "calling_aet": "US_ROOM1"}]
    caplog.clear()
    server = serve(allowed_hosts=("192.0.2.1",))
    try:
        assert ask(server, "US_ROOM1").is_rejected
    finally:
        server.shutdown()
    assert lines("rejected") == [{"event": "rejected", "reason": "peer address not allowed",
                                  **who, "calling_aet": "US_ROOM1"}]


def test_a_store_whose_command_names_another_instance_than_its_data_set_is_refused(tmp_path,
                                                                                  caplog):
    """The spool keys an instance on the command's Affected SOP Instance UID: a peer that sent
    two heads under one such UID had the second acknowledged (0x0000) as a resend and dropped
    unmeasured. A command that names another instance (or class) than its data set is refused
    now, and said in the log; an honest store still goes in."""
    import logging
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE
    from pynetdicom.dimse_primitives import C_STORE
    from hc_tf.node import scp as scp_lib
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    cfg = config_lib.NodeConfig(spool=str(tmp_path / "spool"), ae_title="HCTF",
                                allowed_calling_aets=("US_ROOM1",))
    spool = spool_lib.Spool(cfg.spool, 10**9)
    received = []
    ae, handlers = scp_lib.make_ae(cfg, spool, received.append)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    ds = dicom_files.gray_dataset("000_HC.png")
    scu = AE(ae_title="US_ROOM1")
    scu.add_requested_context(US, ds.file_meta.TransferSyntaxUID)
    try:
        assoc = scu.associate("127.0.0.1", server.server_address[1], ae_title="HCTF")
        send = assoc.dimse.send_msg
        forged = {}

        def send_msg(msg, context_id):
            if isinstance(msg, C_STORE):
                msg.AffectedSOPInstanceUID = forged.get("uid", msg.AffectedSOPInstanceUID)
                msg.AffectedSOPClassUID = forged.get("class", msg.AffectedSOPClassUID)
            send(msg, context_id)

        assoc.dimse.send_msg = send_msg
        forged["uid"] = "1.2.3.4.5.999"
        assert assoc.send_c_store(ds).Status == scp_lib.STATUS_CANNOT_UNDERSTAND
        forged.clear()
        assert assoc.send_c_store(ds).Status == 0x0000
        assoc.release()
    finally:
        server.shutdown()
    assert len(received) == 1 and spool.journal.known(str(ds.SOPInstanceUID))
    assert not spool.journal.known("1.2.3.4.5.999")
    refused = [json.loads(r.getMessage()) for r in caplog.records if "store_refused" in
               r.getMessage()]
    assert refused == [{"event": "store_refused", "reason": "the data set's SOP Instance UID "
                        "is not the command's Affected SOP Instance UID"}]


def test_a_line_is_made_json_once_however_often_serve_set_up_the_log(monkeypatch):
    """`serve` run in one process again and again (the CLI tests) added a filter to every root
    handler each time, and each filter wrapped the JSON line of the one before, doubling its
    escapes: a CI worker grew to 21 GB on one pynetdicom error."""
    import io
    import logging
    import warnings
    from hc_tf.node import cli_lib
    out = io.StringIO()
    handlers = [logging.StreamHandler(out), logging.StreamHandler(io.StringIO())]
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", handlers)
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    try:
        for _ in range(12):
            cli_lib._log_lines()
        assert [sum(isinstance(f, cli_lib._NoInstanceData) for f in h.filters)
                for h in handlers] == [1, 1]
        handlers[0].addFilter(cli_lib._NoInstanceData())  # a second filter on one handler too
        logging.getLogger("pynetdicom.acse").error('Association "Rejected"')
    finally:
        logging.captureWarnings(False)
    [line] = out.getvalue().splitlines()
    assert json.loads(line)["message"] == 'Association "Rejected"'


def test_other_libraries_log_lines_are_json_without_instance_data():
    """pynetdicom's lines were plain text in a log documented as JSON lines ("Network timeout
    reached", "Association Rejected" over three lines, an exception's traceback)."""
    import io
    import logging
    from hc_tf.node import cli_lib
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(cli_lib._NoInstanceData())
    loggers = [logging.getLogger(n) for n in ("pynetdicom.dul", "hc_tf.node", "pydicom",
                                              "py.warnings")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        loggers[0].error("Unknown PDU type received '0x48'")
        loggers[0].warning("Non-conformant 'Affected SOP Instance UID' value "
                           "'1.2.826.0.1.3680043.8.498.0313131'")
        try:
            raise ValueError("Invalid value for VR PN: 'Zzprivacy^Canary'")
        except ValueError as err:
            loggers[0].exception(err)
        loggers[1].warning(json.dumps({"event": "done", "id": 1}))
        loggers[1].error("a line of the node's not yet JSON: %s", "x")
        loggers[2].warning("Invalid value for VR DA: '19800101x'")  # pydicom: not at all
        loggers[3].warning("x.py:1: UserWarning: a library's\n  warnings.warn(...)\n")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
            logger.propagate = True
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {"event": "pynetdicom", "level": "ERROR", "logger": "pynetdicom.dul",
                        "message": "Unknown PDU type received '0x48'"}
    assert lines[1]["message"] == ("Non-conformant 'Affected SOP Instance UID' value "
                                   "<masked>")
    assert lines[2]["message"] == lines[2]["exception"] == "ValueError"
    assert lines[2]["where"][-1].startswith("node_test.py:")
    assert lines[3] == {"event": "done", "id": 1}
    assert lines[4]["event"] == "hc_tf" and lines[4]["message"].startswith("a line of the")
    assert lines[5]["event"] == "python_warning" and lines[5]["logger"] == "py.warnings"
    assert len(lines) == 6 and "Canary" not in out.getvalue() and "1980" not in out.getvalue()


def test_serve_logs_the_signal_it_stops_on_and_the_backlog_it_leaves(tmp_path, caplog):
    """SIGTERM and SIGINT left no line in the log."""
    import logging
    import signal
    import threading
    from hc_tf.node import service
    cfg = config_lib.NodeConfig(spool=str(tmp_path / "spool"), port=0, workers=1,
                                allowed_calling_aets=("S",), destinations=(
                                    config_lib.Destination("folder", "f", (("path", "o"),)),))
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    before = signal.getsignal(signal.SIGTERM)
    started = threading.Event()
    start = service.Node.start
    service.Node.start = lambda node: (start(node), started.set())[0]
    try:
        threading.Thread(target=lambda: started.wait(60) and os.kill(os.getpid(),
                                                                     signal.SIGTERM)).start()
        service.serve(cfg)
    finally:
        service.Node.start = start
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler again
    os.close(spool_lib.lock(cfg.spool))  # and the spool free for the next node
    events = [json.loads(r.getMessage()) for r in caplog.records
              if r.getMessage().startswith("{")]
    assert {"event": "stopping", "signal": "SIGTERM", "backlog": 0} in events, events
    assert events[-1] == {"event": "stopped", "backlog": 0}


def test_an_idle_association_is_ended_after_network_timeout_s(tmp_path):
    """An associated peer that sends nothing held one of max_associations for pynetdicom's
    60 s, a scanner locked out meanwhile; [node] network_timeout_s sets how long."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE
    from hc_tf.node import scp as scp_lib
    path = _toml(tmp_path, f'[node]\nspool = "{tmp_path / "spool"}"\nallowed_calling_aets = '
                 '["US_ROOM1"]\nmax_associations = 1\nnetwork_timeout_s = 0.5\n' + FOLDER)
    cfg = config_lib.load(path)
    assert cfg.network_timeout_s == 0.5 and config_lib.NodeConfig(spool="s").network_timeout_s \
        == 60.0
    ae, handlers = scp_lib.make_ae(cfg, spool_lib.Spool(cfg.spool, 10**9), lambda i: None)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    scu = AE(ae_title="US_ROOM1")
    scu.add_requested_context(US, pydicom.uid.ExplicitVRLittleEndian)
    try:
        idle = scu.associate("127.0.0.1", server.server_address[1], ae_title="HCTF")
        assert idle.is_established
        assert scu.associate("127.0.0.1", server.server_address[1], ae_title="HCTF").is_rejected
        t0 = time.monotonic()
        while idle.is_alive() and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert idle.is_aborted and time.monotonic() - t0 < 5
        scanner = scu.associate("127.0.0.1", server.server_address[1], ae_title="HCTF")
        assert scanner.is_established  # the place is free again
        scanner.release()
    finally:
        for assoc in scu.active_associations:
            assoc.abort()
        server.shutdown()


class _Flaky:
    def __init__(self, failures, error=dest_lib.Retry):
        self.failures, self.error, self.calls = failures, error, 0

    def send(self, files):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("down")


def _measured(tmp_path, dests):
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    i = spool.store(b"x", "1.2.3", US, "SCAN")
    spool.journal.mark_measured(i, ["sr/a.sr.dcm"], dests, 1.0)
    return spool, i


def test_sender_backs_off_then_delivers(tmp_path):
    spool, i = _measured(tmp_path, ["pacs"])
    dest = _Flaky(2)
    sender = worker_lib.Sender(spool, {"pacs": dest}, base_s=0.05, max_s=0.1)
    t0 = time.time()
    while spool.journal.row(i)["state"] != "done" and time.time() - t0 < 10:
        sender.send_due()
        time.sleep(0.01)
    assert dest.calls == 3 and spool.journal.row(i)["state"] == "done"
    assert spool.journal.attempts(i, "pacs") == 2


def test_an_idle_sender_waits_and_turns_twice_a_second(tmp_path):
    """Nothing due, a retry a minute off: the sender's loop waits between turns (it had turned
    without a pause for 2 s after its start and after every send, 200,000 journal queries and
    a core) and turns every IDLE_POLL_S (it had waited up to 5 s, so a series' report, built on
    a turn, came that late)."""
    spool, _ = _measured(tmp_path, ["pacs"])
    spool.journal.next_due = lambda *dest: time.time() + 60
    turns = []
    sender = worker_lib.Sender(spool, {"pacs": _Flaky(0)}, 1, 1)
    sender.ticks.append(lambda: turns.append(time.monotonic()) or 0)
    spool.journal.due = lambda now, **dest: []
    sender.start()
    time.sleep(2.6)
    sender.stop()
    assert 4 <= len(turns) <= 8, len(turns)
    assert max(b - a for a, b in zip(turns, turns[1:])) < 2 * worker_lib.IDLE_POLL_S


def test_sender_dead_letters_a_refused_delivery(tmp_path):
    spool, i = _measured(tmp_path, ["pacs"])
    worker_lib.Sender(spool, {"pacs": _Flaky(1, dest_lib.Refused)}, 1, 1).send_due()
    status = spool.journal.status()
    assert status["destinations"]["pacs"]["dead"] == 1
    assert status["destinations"]["pacs"]["last_error"] == "down"


def test_a_refused_delivery_keeps_its_srs_until_forget_dead(tmp_path):
    spool, i = _measured(tmp_path, ["pacs", "web"])
    os.makedirs(os.path.join(spool.out_dir(i), "sr"))
    with open(os.path.join(spool.out_dir(i), "sr", "a.sr.dcm"), "wb") as f:
        f.write(b"sr")
    sender = worker_lib.Sender(spool, {"pacs": _Flaky(1, dest_lib.Refused), "web": _Flaky(0)},
                               1, 1)
    sender.send_due()
    assert spool.journal.row(i)["state"] == "done"
    assert os.path.isfile(os.path.join(spool.out_dir(i), "sr", "a.sr.dcm"))  # not deleted
    assert spool.journal.status()["undelivered"] == [{"id": i, "dest": "pacs", "error": "down"}]
    path = _toml(tmp_path, f'[node]\nspool = "{spool.root}"\nallowed_calling_aets = ["S"]\n'
                 + FOLDER)
    shown = CliRunner().invoke(cli.main, ["node", "status", "--config", path])
    assert f"#{i} -> pacs: down; SRs kept in {spool.out_dir(i)}" in shown.output, shown.output
    forgot = CliRunner().invoke(cli.main, ["node", "forget-dead", "--config", path])
    assert forgot.exit_code == 0 and "deleted 1 dead letter(s)" in forgot.output, forgot.output
    assert not os.path.exists(spool.out_dir(i))
    # a delivery every destination took leaves nothing behind
    spool2, j = _measured(tmp_path / "b", ["pacs"])
    os.makedirs(spool2.out_dir(j))
    worker_lib.Sender(spool2, {"pacs": _Flaky(0)}, 1, 1).send_due()
    assert not os.path.exists(spool2.out_dir(j))


def test_resend_queues_refused_deliveries_again_where_their_srs_are_kept(tmp_path):
    """A PACS that refused SRs (too large, say) and is then put right: `resend` makes those
    deliveries due again, the running sender sends them and the SRs go; one whose SRs
    forget-dead deleted is not queued, and the command says so."""
    spool, i = _measured(tmp_path, ["pacs", "web"])
    sr = os.path.join(spool.out_dir(i), "sr", "a.sr.dcm")
    os.makedirs(os.path.dirname(sr))
    open(sr, "wb").close()
    j = spool.store(b"y", "1.2.4", US, "SCAN")
    spool.journal.mark_measured(j, ["sr/b.sr.dcm"], ["pacs"], 1.0)
    pacs = _Flaky(2, dest_lib.Refused)
    worker_lib.Sender(spool, {"pacs": pacs, "web": _Flaky(0)}, 1, 1).send_due()
    assert spool.journal.row(i)["state"] == "done" and spool.journal.row(j)["state"] == "done"
    path = _toml(tmp_path, f'[node]\nspool = "{spool.root}"\nallowed_calling_aets = ["S"]\n'
                 '[[destination]]\nname = "pacs"\nkind = "folder"\npath = "a"\n'
                 '[[destination]]\nname = "web"\nkind = "folder"\npath = "b"\n')
    wrong = CliRunner().invoke(cli.main, ["node", "resend", "--config", path, "--dest", "pacz"])
    assert wrong.exit_code == 2 and "'pacz': not a destination of" in wrong.output, wrong.output
    resent = CliRunner().invoke(cli.main, ["node", "resend", "--config", path])
    assert resent.exit_code == 0, resent.output
    assert "queued 1 refused delivery again; 1 not: their SRs were deleted" in resent.output
    assert spool.journal.row(i)["state"] == "measured" and spool.journal.attempts(i, "pacs") == 0
    worker_lib.Sender(spool, {"pacs": pacs, "web": _Flaky(0)}, 1, 1).send_due()
    assert pacs.calls == 3 and spool.journal.row(i)["state"] == "done"
    assert spool.journal.status()["undelivered"] == [{"id": j, "dest": "pacs", "error": "down"}]
    assert not os.path.exists(spool.out_dir(i))  # delivered everywhere: the SRs went
    again = CliRunner().invoke(cli.main, ["node", "resend", "--config", path, "--dest", "web"])
    assert "queued 0 refused deliveries again" in again.output, again.output


def test_status_cli_prints_backlog_and_bad_configs_are_one_line(tmp_path):
    spool, _ = _measured(tmp_path, ["pacs"])
    path = _toml(tmp_path, f'[node]\nspool = "{spool.root}"\nallowed_calling_aets = ["S"]\n'
                 + FOLDER)
    result = CliRunner().invoke(cli.main, ["node", "status", "--config", path, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["destinations"]["pacs"]["pending"] == 1
    bad = CliRunner().invoke(cli.main, ["node", "serve", "--config", str(tmp_path / "none.toml")])
    assert bad.exit_code != 0 and "none.toml" in bad.output and "Traceback" not in bad.output
    missing = CliRunner().invoke(cli.main, ["node", "status", "--config", path,
                                            "--spool", str(tmp_path / "elsewhere")])
    assert missing.exit_code != 0 and "no journal" in missing.output


def test_fhir_destination_files_a_heads_observations_as_one_transaction(tmp_path):
    """A head's file (HC, BPD, OFD, corrected BPD, cephalic index, the GA by each equation) is
    one transaction: all filed or none, each a PUT of an id
    derived from the file and the quantity (a resend updates), a 5xx retried; the HC keeps the
    id a lone Observation had; the GAs, of one LOINC code, each an id of its equation's, short
    enough for the longest id the node gives a head."""
    from hc_tf import clinical
    from hc_tf.clinical import biometry
    from hc_tf.report import dicom_sr, fhir, fhir_ga, records
    from fhir.resources.R4B.bundle import Bundle
    ga = {records.GA_KEYS[g.method]: records.ga_record(g) for g in clinical.ga_from_hc_all(175.3)}
    bundle = fhir.head_bundle(175.3, {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"},
                              2, dicom_sr.ModelInfo("m.tflite", "1", "0" * 64), False, [],
                              biometry=records.biometry_record(biometry.biometry_from_axes(22.5, 30.0)),
                              gestational_age=ga)
    path = tmp_path / "fhir" / "abc.frame2.fhir.json"
    path.parent.mkdir()
    path.write_text(json.dumps(bundle))
    server, dest, got = node_support.fhir_server([503, 200, 200])
    try:
        with pytest.raises(dest_lib.Retry, match="503"):
            dest.send([str(path)])
        dest.send([str(path)])
        dest.send([str(path)])  # a resend: the same ids, updates
    finally:
        server.shutdown()
    assert [(m, p) for m, p, _ in got] == [("POST", "/r4")] * 3
    sent = got[-1][2]
    assert Bundle.model_validate(sent).type == "transaction"
    ids = ["hctf-abc.frame2", "hctf-abc.frame2.bpd", "hctf-abc.frame2.ofd",
           "hctf-abc.frame2.cbpd", "hctf-abc.frame2.ci", "hctf-abc.frame2.gahl",
           "hctf-abc.frame2.gaig"]
    assert [e["request"] for e in sent["entry"]] == [
        {"method": "PUT", "url": f"Observation/{i}"} for i in ids]
    assert [e["resource"]["id"] for e in sent["entry"]] == ids
    assert [e["resource"]["valueQuantity"]["value"] for e in sent["entry"]] == pytest.approx(
        [175.3, 45.0, 60.0, (45.0 * 60.0 / 1.265) ** 0.5, 75.0,
         round(ga["hadlock"]["ga_days"], 2), round(ga["intergrowth"]["ga_days"], 2)])
    longest = "hctf-" + "f" * 40 + ".frame1000"  # spool.short_hash's 40 hex, a cine's frame
    for name in fhir_ga.SHORT_NAMES.values():  # a FHIR id: [A-Za-z0-9.-]{1,64}
        assert re.fullmatch(r"[A-Za-z0-9.-]{1,64}", f"{longest}.{name}")


def test_fhir_destination_files_an_exams_report_with_its_links_as_one_transaction(tmp_path):
    """An exam's report (a DiagnosticReport and Observations linked by urn:uuid fullUrls): each
    a PUT of hctf-<uuid>, every link rewritten to the id it gets, other references kept."""
    from fhir.resources.R4B.bundle import Bundle
    report, hc, ga = (f"urn:uuid:{u}" for u in ("1" * 8 + "-1111-5111-8111-" + "1" * 12,
                                               "2" * 8 + "-2222-5222-8222-" + "2" * 12,
                                               "3" * 8 + "-3333-5333-8333-" + "3" * 12))
    study = {"type": "ImagingStudy", "identifier": {"system": "urn:dicom:uid",
                                                    "value": "urn:oid:1.2.3"}}
    obs = {"resourceType": "Observation", "status": "preliminary", "code": {"text": "x"}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": report, "resource": {
            "resourceType": "DiagnosticReport", "status": "preliminary", "code": {"text": "r"},
            "imagingStudy": [study], "result": [{"reference": hc}, {"reference": ga}]}},
        {"fullUrl": hc, "resource": dict(obs, derivedFrom=[study])},
        {"fullUrl": ga, "resource": dict(obs, derivedFrom=[{"reference": hc}])}]}
    path = tmp_path / "fhir" / "abc.obgyn.fhir.json"
    path.parent.mkdir()
    path.write_text(json.dumps(bundle))
    server, dest, got = node_support.fhir_server([200, 200])
    try:
        dest.send([str(path)])
        dest.send([str(path)])  # a resend: the same ids, updates
    finally:
        server.shutdown()
    assert got[0] == got[1] and got[0][:2] == ("POST", "/r4")
    sent = got[0][2]
    Bundle.model_validate(sent)
    ids = [f"{t}/hctf-{u[9:]}" for t, u in (("DiagnosticReport", report), ("Observation", hc),
                                             ("Observation", ga))]
    assert [e["request"] for e in sent["entry"]] == [{"method": "PUT", "url": i} for i in ids]
    assert [e["resource"]["id"] for e in sent["entry"]] == [i.split("/")[1] for i in ids]
    resources = [e["resource"] for e in sent["entry"]]
    assert resources[0]["result"] == [{"reference": ids[1]}, {"reference": ids[2]}]
    assert resources[0]["imagingStudy"] == [study] and resources[1]["derivedFrom"] == [study]
    assert resources[2]["derivedFrom"] == [{"reference": ids[1]}]
    assert "urn:uuid:" not in json.dumps(sent)


def test_send_fhir_files_predicts_files_under_their_images_ids_and_names_each_it_could_not(
        tmp_path, monkeypatch):
    """`hc-tf node send-fhir OUT`: each *.fhir.json one transaction as the node sends it, a
    head's ids the node's (a hash of its image's UID and frame), whatever the file is called (a
    name may be a patient's); a file that is not JSON, not a Bundle, not a head's, or refused is
    named with why, the others still filed; exit 1."""
    from hc_tf.clinical import biometry
    from hc_tf.node import spool
    from hc_tf.report import dicom_sr, fhir, records

    def head(sop, frame):
        return fhir.head_bundle(
            175.3, {"study_instance_uid": "1.2.3", "sop_instance_uid": sop}, frame,
            dicom_sr.ModelInfo("m.tflite", "1", "0" * 64), False, [],
            biometry=records.biometry_record(biometry.biometry_from_axes(22.5, 30.0)))
    folder = tmp_path / "out" / "fhir"
    folder.mkdir(parents=True)
    (folder / "Doe_Jane.fhir.json").write_text(json.dumps(head("1.2.3.4", None)))
    (folder / "again.fhir.json").write_text(json.dumps(head("1.2.3.4", None)))  # renamed
    (folder / "third.fhir.json").write_text(json.dumps(head("1.2.3.5", 3)))
    (folder / "broken.fhir.json").write_text("{not json")
    (folder / "list.fhir.json").write_text("[1]")
    (folder / "other.fhir.json").write_text('{"resourceType": "Bundle", "entry": [{}]}')
    (folder / "odd.fhir.json").write_text('{"resourceType": "Bundle", "entry": [{"fullUrl": '
                                          '"urn:uuid:1"}]}')
    (folder / "notes.txt").write_text("not sent")
    server, dest, got = node_support.fhir_server([200, 200, 503])
    try:
        result = CliRunner().invoke(cli.main, ["node", "send-fhir", str(tmp_path / "out"),
                                               "--url", dest.url])
    finally:
        server.shutdown()
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.splitlines()
    assert f"{folder / 'Doe_Jane.fhir.json'}: filed" in lines
    assert f"{folder / 'again.fhir.json'}: filed" in lines
    for name, why in (("third", "FHIR HTTP 503"), ("broken", "Expecting property name"),
                      ("list", "not a FHIR resource"), ("other", "no source image"),
                      ("odd", "not a FHIR file hc-tf wrote")):
        assert any(line.startswith(f"{folder / name}.fhir.json: not filed") and why in line
                   for line in lines), (name, result.output)
    assert lines[-1] == "Error: 5 file(s) not filed"
    (_, _, first), (_, _, again), (_, _, third) = got
    base = "hctf-" + spool.short_hash("1.2.3.4")
    assert [e["resource"]["id"] for e in first["entry"]][:2] == [base, f"{base}.bpd"]
    assert again == first  # renamed, the same image: the same ids, an update
    # as the node files a frame's head: its spool names the image by the UID's hash
    frame = spool.Spool.image_name("1.2.3.5").removesuffix(".dcm") + ".frame3"
    assert third["entry"][0]["resource"]["id"] == f"hctf-{frame}"
    assert "Doe" not in json.dumps(got)
    bad = CliRunner().invoke(cli.main, ["node", "send-fhir", str(folder), "--url", "ftp://x"])
    assert bad.exit_code == 2 and "http(s)://" in bad.output
    from hc_tf.node import cli_lib
    monkeypatch.setattr(cli_lib, "MAX_FHIR_FILE_BYTES", 100)  # bounded before it is read
    big = CliRunner().invoke(cli.main, ["node", "send-fhir", str(folder / "Doe_Jane.fhir.json"),
                                        "--url", "http://127.0.0.1:9"])
    assert big.exit_code == 1 and "not filed: over 0 MiB" in big.output


def test_fhir_destination_puts_a_lone_observation_idempotently_and_retries_5xx(tmp_path):
    """A file spooled before the Bundle (one Observation) is still filed, as a PUT."""
    obs = tmp_path / "fhir" / "abc.frame2.fhir.json"
    obs.parent.mkdir()
    obs.write_text(json.dumps({"resourceType": "Observation", "status": "preliminary"}))
    server, dest, got = node_support.fhir_server([503, 201, 200])
    try:
        with pytest.raises(dest_lib.Retry, match="503"):
            dest.send([str(obs)])
        dest.send([str(obs)])
        dest.send([str(obs)])  # a resend: the same id, an update
    finally:
        server.shutdown()
    assert [(m, p) for m, p, _ in got] == [("PUT", "/r4/Observation/hctf-abc.frame2")] * 3
    assert got[-1][2]["id"] == "hctf-abc.frame2"


def test_serve_refuses_a_bad_input_limit_in_the_environment_in_one_line(tmp_path, monkeypatch):
    """HC_TF_MAX_INPUT_BYTES=abc: a traceback ending in the ValueError, raised as the listener
    was made; now one line before any work."""
    from hc_tf.node import service
    seen = []
    monkeypatch.setattr(service, "serve", seen.append)
    monkeypatch.setenv("HC_TF_MAX_INPUT_BYTES", "abc")
    path = _toml(tmp_path, '[node]\nspool = "s"\nallowed_calling_aets = ["S"]\n' + FOLDER)
    result = CliRunner().invoke(cli.main, ["node", "serve", "--config", path])
    assert result.exit_code == 1 and not seen, result.output
    assert result.output.strip() == ("Error: HC_TF_MAX_INPUT_BYTES='abc': expected a positive "
                                     "whole number"), result.output


def test_serve_names_the_key_and_file_that_keep_the_node_from_starting(tmp_path):
    """A missing TLS file said "Error: 127.0.0.1:56335: No such file or directory" (every
    OSError was put down to the address); a missing model was a traceback."""
    import socket
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    (tmp_path / "a_file").write_text("")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    base = '[node]\nallowed_calling_aets = ["S"]\nworkers = 1\n'
    cases = [
        (f'spool = "{tmp_path / "s1"}"\ntls_cert = "/nonexistent.pem"\ntls_key = "k.pem"\n',
         "[node] tls_cert '/nonexistent.pem': No such file or directory"),
        (f'spool = "{tmp_path / "s2"}"\ntls_cert = "{tmp_path / "junk.pem"}"\n'
         f'tls_key = "{tmp_path / "nokey.pem"}"\n',
         f"[node] tls_key '{tmp_path / 'nokey.pem'}': No such file or directory"),
        (f'spool = "{tmp_path / "s3"}"\ntls_cert = "{tmp_path / "junk.pem"}"\n'
         f'tls_key = "{tmp_path / "junk.pem"}"\n',
         f"[node] tls_cert '{tmp_path / 'junk.pem'}', tls_key '{tmp_path / 'junk.pem'}': not a "
         "PEM certificate and its matching key"),
        (f'spool = "{tmp_path / "a_file" / "spool"}"\n',
         f"[node] spool '{tmp_path / 'a_file' / 'spool'}': Not a directory"),
        (f'spool = "{tmp_path / "s4"}"\nmodel = "/nonexistent.tflite"\n',
         "[node] model '/nonexistent.tflite': /nonexistent.tflite: no such model file"),
        (f'spool = "{tmp_path / "s5"}"\nport = {port}\n',
         f"[node] host, port 127.0.0.1:{port}: Address already in use"),
    ]
    try:
        for text, words in cases:
            path = _toml(tmp_path, base + text + FOLDER)
            result = CliRunner().invoke(cli.main, ["node", "serve", "--config", path])
            assert result.exit_code == 1 and result.exception.__class__ is SystemExit, (
                words, result.output, result.exception)
            assert result.output.strip() == f"Error: {path}: {words}", result.output
    finally:
        taken.close()


def test_serve_warns_beyond_loopback_and_cli_overrides_reach_the_node(tmp_path, monkeypatch,
                                                                      caplog):
    """The warning is a JSON line as every other line of the node's log (it was plain text)."""
    from hc_tf.node import service
    seen = []
    monkeypatch.setattr(service, "serve", seen.append)
    path = _toml(tmp_path, '[node]\nspool = "s"\nallowed_calling_aets = ["S"]\n' + FOLDER)
    local = CliRunner().invoke(cli.main, ["node", "serve", "--config", path, "--port", "2000",
                                          "--max-associations", "2"])
    assert local.exit_code == 0 and "exposed" not in caplog.text
    wide = CliRunner().invoke(cli.main, ["node", "serve", "--config", path, "--host", "0.0.0.0"])
    lines = [json.loads(r.getMessage()) for r in caplog.records if "exposed" in r.getMessage()]
    assert wide.exit_code == 0 and [(d["event"], d["host"]) for d in lines] == [
        ("exposed", "0.0.0.0")] and "no password" in lines[0]["why"]
    assert [(c.host, c.port, c.max_associations) for c in seen] == [
        ("127.0.0.1", 2000, 2), ("0.0.0.0", 11112, 4)]
    bad = CliRunner().invoke(cli.main, ["node", "serve", "--config", path,
                                        "--max-associations", "0"])
    assert bad.exit_code != 0 and "max_associations 0" in bad.output and len(seen) == 2


def test_measure_copies_odd_patient_fields_as_dicom_and_the_note_names_the_tag(tmp_path, runner):
    """A dashed birth date and "FEMALE" (highdicom raised: the node dead-lettered the head as
    "internal error: ValueError") give an SR holding them in DICOM's form; the summary's notes
    name the tags, not the values."""
    import warnings
    import pydicom
    from hc_tf.report import dicom_sr
    ds = dicom_files.gray_dataset("000_HC.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "JANE DOE", "1980-01-01", "FEMALE"
    head = dicom_files.save(ds, str(tmp_path / "a.dcm"))
    run = measure_lib.NodeRun(dicom_sr.model_info(__import__("hc_tf.models").models
                                                  .released_edge_model()), "HCTF")
    outputs, summary = measure_lib.measure_file(runner, head, str(tmp_path / "out"), run)
    assert measure_lib.sr_files(outputs) == ["sr/a.sr.dcm"] and summary["found"] == 1
    sr = pydicom.dcmread(str(tmp_path / "out" / "sr" / "a.sr.dcm"))
    assert (sr.PatientBirthDate, sr.PatientSex) == ("19800101", "F")
    notes = " ".join(summary["sr_notes"])
    assert "(0010,0030)" in notes and "(0010,0040)" in notes
    assert "1980" not in notes and "FEMALE" not in notes


def _stow_answer(code, body, content_type="application/dicom+json"):
    """A one-request STOW-RS server answering `code` with DICOM JSON `body`; returns its URL
    and a stop function."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    self.rfile.read(size + 2)
                    if not size:
                        break
            else:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def _sop_item(uid, reason=None):
    item = {"00081150": {"vr": "UI", "Value": [dest_lib.SR_CLASSES[0]]},
            "00081155": {"vr": "UI", "Value": [uid]}}
    if reason is not None:
        item["00081197"] = {"vr": "US", "Value": [reason]}
    return item


@pytest.mark.parametrize("case, error", [
    ("failed_out_of_resources", dest_lib.Retry), ("failed_cannot_understand", dest_lib.Refused),
    ("stored", None), ("stored_charset", None), ("not_listed", dest_lib.Retry),
    ("accepted_no_body", dest_lib.Retry), ("conflict_out_of_resources", dest_lib.Retry),
    ("conflict_cannot_understand", dest_lib.Refused), ("conflict_no_body", dest_lib.Refused)])
def test_dicomweb_destination_reads_the_stow_response(tmp_path, case, error):
    """A STOW-RS 202 listing the SR in Failed SOP Sequence (0008,1198) was taken as stored:
    the delivery was marked sent and the SR deleted. The failure reason now decides Retry
    (0xA7xx) or Refused, for a 409 (none stored) too; an SR the response does not show stored
    is retried."""
    ds = dicom_files.gray_dataset("000_HC.png")
    uid = str(ds.SOPInstanceUID)
    sr = dicom_files.save(ds, str(tmp_path / "x.sr.dcm"))
    failed = {"00081198": {"vr": "SQ", "Value": [_sop_item(uid, 0xA700)]}}
    code, body, content_type = {
        "failed_out_of_resources": (202, failed, "application/dicom+json"),
        "failed_cannot_understand": (
            202, {"00081198": {"vr": "SQ", "Value": [_sop_item(uid, 0xC000)]}},
            "application/dicom+json"),
        "stored": (200, {"00081199": {"vr": "SQ", "Value": [_sop_item(uid)]}},
                   "application/dicom+json"),
        "stored_charset": (200, {"00081199": {"vr": "SQ", "Value": [_sop_item(uid)]}},
                           "application/dicom+json; charset=utf-8"),
        "not_listed": (200, {"00081199": {"vr": "SQ", "Value": [_sop_item("1.2.3")]}},
                       "application/dicom+json"),
        "accepted_no_body": (202, None, "application/dicom+json"),
        # 409: none stored; out of resources (0xA7xx) is retried as from a C-STORE
        "conflict_out_of_resources": (409, failed, "application/dicom+json"),
        "conflict_cannot_understand": (
            409, {"00081198": {"vr": "SQ", "Value": [_sop_item(uid, 0xC000)]}},
            "application/dicom+json"),
        "conflict_no_body": (409, None, "application/dicom+json")}[case]
    if case == "failed_out_of_resources":  # with a charset: dicomweb-client does not parse it
        content_type = "application/dicom+json; charset=utf-8"
    url, stop = _stow_answer(code, body, content_type)
    dest = dest_lib.make(config_lib.Destination("dicomweb", "web", (("url", url),)), "HCTF")
    try:
        if error is None:
            dest.send([sr])
        else:
            with pytest.raises(error, match=f"web: STOW-RS HTTP {code}"):
                dest.send([sr])
    finally:
        stop()


@pytest.mark.parametrize("code, error", [
    (401, dest_lib.Retry), (403, dest_lib.Retry), (404, dest_lib.Retry), (405, dest_lib.Retry),
    (407, dest_lib.Retry), (400, dest_lib.Refused), (413, dest_lib.Refused),
    (415, dest_lib.Refused)])
def test_a_wrong_url_or_credentials_is_retried_and_other_4xx_refused(tmp_path, code, error):
    """401/403/404/405/407 say the destination is wrong (its URL, credentials, a proxy's), not
    the SR: they had dead-lettered every delivery for good, a corrected URL delivering none."""
    sr = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "x.sr.dcm"))
    url, stop = _stow_answer(code, None)
    web = dest_lib.make(config_lib.Destination("dicomweb", "web", (("url", url),)), "HCTF")
    try:
        with pytest.raises(error, match=f"^web: STOW-RS HTTP {code}"):
            web.send([sr])
    finally:
        stop()
    obs = tmp_path / "fhir" / "abc.fhir.json"
    obs.parent.mkdir()
    obs.write_text(json.dumps({"resourceType": "Observation", "status": "preliminary"}))
    server, ehr, _ = node_support.fhir_server([code])
    try:
        with pytest.raises(error, match=f"^ehr: FHIR HTTP {code}"):
            ehr.send([str(obs)])
    finally:
        server.shutdown()


def test_a_wrong_dicomweb_url_is_retried_and_the_corrected_one_gets_the_backlog(tmp_path,
                                                                                caplog):
    """The retry's log line and `status` say the HTTP status; at the next start the backlog is
    due at once (a corrected config need not wait out the backoff)."""
    import logging
    ds = dicom_files.gray_dataset("000_HC.png")
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**9)
    i = spool.store(b"x", "1.2.3", US, "SCAN")
    os.makedirs(os.path.join(spool.out_dir(i), "sr"))
    dicom_files.save(ds, os.path.join(spool.out_dir(i), "sr", "a.sr.dcm"))
    spool.journal.mark_measured(i, ["sr/a.sr.dcm"], ["web"], 1.0)

    def web(url):
        return dest_lib.make(config_lib.Destination("dicomweb", "web", (("url", url),)), "HCTF")

    url, stop = _stow_answer(404, None)
    try:
        with caplog.at_level(logging.WARNING, logger="hc_tf.node"):
            worker_lib.Sender(spool, {"web": web(url)}, 60, 300).send_due()
    finally:
        stop()
    retry = [json.loads(r.getMessage()) for r in caplog.records if '"retry"' in r.getMessage()]
    assert retry and "HTTP 404 (not found: the url?" in retry[0]["error"], retry
    status = spool.journal.status()["destinations"]["web"]
    assert status["pending"] == 1 and "HTTP 404" in status["last_error"]
    assert spool.journal.due(time.time()) == []  # waiting out its backoff (60 s)
    assert spool.journal.retry_now() == 1  # the node's next start
    url, stop = _stow_answer(200, {"00081199": {"vr": "SQ", "Value": [
        _sop_item(str(ds.SOPInstanceUID))]}})
    try:
        worker_lib.Sender(spool, {"web": web(url)}, 60, 300).send_due()
    finally:
        stop()
    assert spool.journal.row(i)["state"] == "done"


class _Pacs:
    """A mock Orthanc (/changes, /instances/<id>/...) and DICOMweb PACS (QIDO-RS /instances,
    WADO-RS /studies/.../instances/<uid>) holding `files` {name: (path, uids)}; the name
    "deleted" answers 404 everywhere. `fetched` lists the paths whose files were sent."""

    def __init__(self, files, length=True):
        import http.server
        import threading
        self.files, self.fetched = files, []
        pacs = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, code, body, content_type="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                if length or code != 200:  # else HTTP/1.0 read to the close, no size told
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                path, _, query = self.path.partition("?")
                if path == "/changes":
                    since = int(query.split("since=")[1].split("&")[0])
                    changes = [{"Seq": i + 1, "ChangeType": "NewInstance", "ID": name}
                               for i, name in enumerate(pacs.files) if i + 1 > since]
                    return self._send(200, json.dumps({"Changes": changes, "Done": True,
                                                       "Last": len(pacs.files)}).encode())
                if path == "/instances":  # QIDO-RS: one page, then none
                    if "offset=0" not in query:
                        return self._send(200, b"[]", "application/dicom+json")
                    return self._send(200, json.dumps([{
                        "0020000D": {"vr": "UI", "Value": [u["study"]]},
                        "0020000E": {"vr": "UI", "Value": [u["series"]]},
                        "00080018": {"vr": "UI", "Value": [u["sop"]]},
                        "00080016": {"vr": "UI", "Value": [US]}}
                        for _, u in pacs.files.values()]).encode(), "application/dicom+json")
                name = next((n for n, (_, u) in pacs.files.items()
                             if path.startswith(f"/instances/{n}") or path.endswith(u["sop"])),
                            None)
                if name is None or name == "deleted":
                    return self._send(404, b'{"Message": "Unknown resource"}')
                file, uids = pacs.files[name]
                data = open(file, "rb").read()
                if path.endswith("/simplified-tags"):
                    return self._send(200, json.dumps({"SOPClassUID": US,
                                                       "SOPInstanceUID": uids["sop"]}).encode())
                if path == f"/instances/{name}":
                    return self._send(200, json.dumps({"FileSize": len(data)}).encode())
                pacs.fetched.append(file)
                if path.endswith("/file"):
                    return self._send(200, data, "application/dicom")
                body = (b"--B0\r\nContent-Type: application/dicom\r\n\r\n" + data
                        + b"\r\n--B0--\r\n")
                return self._send(200, body, 'multipart/related; type="application/dicom"; '
                                             'boundary=B0')

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def _pacs_files(tmp_path, names):
    files = {}
    for name in names:
        ds = dicom_files.gray_dataset("000_HC.png")
        path = dicom_files.save(ds, str(tmp_path / f"{name}.dcm"))
        files[name] = (path, {"study": str(ds.StudyInstanceUID),
                              "series": str(ds.SeriesInstanceUID), "sop": str(ds.SOPInstanceUID)})
    return files


def _pull_once(tmp_path, kind, pacs):
    """One poll of a `kind` puller on `pacs` into a new spool; the spool and what it queued."""
    from hc_tf.node import pull as pull_lib
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**9)
    got = []
    puller = pull_lib.make(config_lib.Destination(kind, "pacs", (("url", pacs.url),)), spool,
                           got.append)
    try:
        puller.poll_once()
    finally:
        pacs.server.shutdown()
    return spool, got


@pytest.mark.parametrize("kind", ["orthanc", "dicomweb"])
def test_pull_skips_an_instance_deleted_since_and_goes_on(tmp_path, kind, caplog):
    """Orthanc's feed keeps a NewInstance change of an instance deleted since: its 404 raised,
    the cursor never passed it, and no later instance was ever pulled."""
    files = _pacs_files(tmp_path, ["deleted", "good"])
    pacs = _Pacs(files)
    spool, got = _pull_once(tmp_path, kind, pacs)
    assert len(got) == 1 and spool.journal.known(files["good"][1]["sop"])
    assert open(spool.image_path(spool.journal.row(got[0])["file"]), "rb").read() == \
        open(files["good"][0], "rb").read()  # the file as the PACS has it
    if kind == "orthanc":
        assert spool.journal.cursor("pull:pacs") == 2
        assert '"event": "pull_gone"' in caplog.text and '"seq": 1' in caplog.text
        assert "deleted" not in caplog.text  # Orthanc's id: a hash of the patient ID and UIDs
    assert files["deleted"][1]["sop"] not in caplog.text


@pytest.mark.parametrize("kind, length", [("orthanc", True), ("dicomweb", True),
                                          ("dicomweb", False)])
def test_pull_keeps_to_the_input_byte_limit_set_in_the_environment(tmp_path, kind, length,
                                                                     monkeypatch):
    """HC_TF_MAX_INPUT_BYTES bounds a pulled file as it bounds the reader: the Orthanc size
    check used the built-in default, and the DICOMweb pull downloaded any size."""
    from hc_tf.io import images
    files = _pacs_files(tmp_path, ["big"])
    monkeypatch.setenv(images.BYTES_ENV, "100000")  # the head's file is about 430 kB
    pacs = _Pacs(files, length)
    spool, got = _pull_once(tmp_path, kind, pacs)
    assert got == [] and (kind == "dicomweb" or pacs.fetched == [])
    dead = spool.journal.status()
    assert dead["dead_letters"][0]["reason"].endswith("over the 100000-byte input limit"), dead


def test_fhir_patient_system_names_the_subject_in_the_fhir_file_only(tmp_path, runner, caplog):
    """[node] fhir_patient_system: each Observation's subject is the PatientID under that
    system, in the FHIR file only (not the journal, not the log); an image without a PatientID
    gets no subject, and its journal note (and, with no destination, its done line) says so,
    by tag."""
    import logging
    from hc_tf import models
    from hc_tf.report import dicom_sr, fhir
    canary, system = "CANARY-PID-7f3a9c", "https://hospital.example/mrn"
    path = _toml(tmp_path, '[node]\nspool = "s"\nallow_any_calling_aet = true\n'
                 f'fhir_patient_system = "{system}"\n' + FOLDER)
    cfg = config_lib.load(path)
    assert cfg.fhir_patient_system == system
    assert config_lib.load(_toml(tmp_path, '[node]\nspool = "s"\nallow_any_calling_aet = true\n'
                                 + FOLDER)).fhir_patient_system == ""
    known, anonymous = (dicom_files.gray_dataset("000_HC.png") for _ in range(2))
    known.PatientID = canary
    del anonymous.PatientID
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**8)
    ids = []
    for name, ds in (("known", known), ("anonymous", anonymous)):
        data = open(dicom_files.save(ds, str(tmp_path / f"{name}.dcm")), "rb").read()
        ids.append(spool.store(data, str(ds.SOPInstanceUID), US, "SCAN"))
    run = measure_lib.NodeRun(dicom_sr.model_info(models.released_edge_model()), "HCTF",
                              patient_system=cfg.fhir_patient_system)
    with caplog.at_level(logging.INFO, logger="hc_tf.node"):
        for i in ids:
            worker_lib.Measurer(spool, runner, run, [], 0).measure(i)
    subjects = []
    for i in ids:
        row = spool.journal.row(i)
        [fhir_file] = [f for f in json.loads(row["outputs"]) if f.endswith(".fhir.json")]
        bundle = json.loads(open(os.path.join(spool.out_dir(i), fhir_file)).read())
        found = fhir.bundle_observations(bundle)
        [doc, *others] = found.values()  # the HC's, then BPD's ... (and the GA's in range)
        assert list(found)[:5] == ["hc", "bpd", "ofd", "cbpd", "ci"]
        assert all(o.get("subject") == doc.get("subject") for o in others)
        subjects.append((doc.get("subject"), row["reason"]))
    assert subjects[0] == ({"type": "Patient", "identifier": {"system": system, "value": canary}},
                           None)
    assert subjects[1][0] is None and "PatientID (0010,0020)" in subjects[1][1]
    assert "PatientID (0010,0020)" in caplog.text
    assert canary not in caplog.text and canary not in json.dumps(spool.journal.status())


def test_a_pulling_nodes_start_line_names_no_port(tmp_path):
    """A pull-only node opens no port, yet its line said "host": "127.0.0.1", "port": 11112."""
    import types

    from hc_tf.node import service
    pulling = config_lib.NodeConfig(spool=str(tmp_path / "s"))
    line = service.Node.started_line(types.SimpleNamespace(cfg=pulling, pullers=[object()]))
    assert line["event"] == "pulling" and line["pulls"] == 1
    assert not {"host", "port", "ae_title", "tls", "max_associations"} & set(line)
    listening = config_lib.NodeConfig(spool=str(tmp_path / "s"), allowed_calling_aets=("S",))
    line = service.Node.started_line(types.SimpleNamespace(cfg=listening, pullers=[]))
    assert (line["event"], line["host"], line["port"]) == ("listening", "127.0.0.1", 11112)
