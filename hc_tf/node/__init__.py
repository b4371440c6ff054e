"""`hc-tf node`: a DICOM node on the clinic's network (docs/node.md).

A Storage SCP receives ultrasound images, spools each to disk before acknowledging it, measures it
with `hc-tf predict`'s code and sends the SR to the PACS (C-STORE, STOW-RS) or a folder. A SQLite
journal in the spool makes a restart finish every acknowledged instance exactly once.

TF-free; pynetdicom and dicomweb-client (the [node] extra) are imported by the modules that need
them. One module per job: `config` (TOML + overrides), `journal` (SQLite states), `spool`
(files, size limit), `scp` (the listener), `measure` (one instance -> SRs), `destinations`
(C-STORE, STOW-RS, folder), `worker` (measuring pool, sender with backoff), `service` (the
running node), `cli_lib` (`hc-tf node serve|status`).
"""
