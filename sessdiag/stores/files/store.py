"""A directory of session files as a `SessionStore` (sessdiag.stores.base).

Thin: the walk, the report and the decoders are the file-store modules'; this keeps the layout
the scan found so that lookups and attribution use the same one.
"""

from __future__ import annotations

from sessdiag import frameworks
from sessdiag.stores.base import Progress, ScanSettings, SessionLookup
from sessdiag.stores.files.inflight import engine_settings
from sessdiag.stores.files.layout import Layout, layout_for, resolve_root
from sessdiag.stores.files.partition import Partition


class FileStore:
    kind = "files"

    def __init__(self, target: str, *, php_depth: int | None = None,
                 sid_pattern: str | None = None) -> None:
        self.target = target
        self.location = target
        self.php_depth = php_depth
        self.sid_pattern = sid_pattern
        self.root: str | None = None
        self.layout: Layout | None = None
        self.sessions = 0
        # The part a `--partition K/N` scan covered: the access logs' lookups and the
        # attribution that follow count only the sessions of that part, as the scan did.
        self.partition: Partition | None = None

    def scan(self, settings: ScanSettings, progress: Progress | None = None) -> dict:
        from sessdiag.report import default_lifetime_warning, file_scan_report
        from sessdiag.stores.files.scan import scan_file_store

        part = Partition(*settings.partition) if settings.partition else None
        self.partition = part
        result = scan_file_store(
            self.target, profile=settings.profile, max_lifetime=settings.max_lifetime,
            age_edges=settings.age_edges, jobs=settings.jobs, worker_model=settings.workers,
            deep=settings.deep, sample_k=settings.sample, seed=settings.seed,
            php_depth=self.php_depth, sid_pattern=self.sid_pattern, now=settings.now,
            progress=progress, partition=part,
            engine=engine_settings(settings.max_inflight, settings.rate),
        )
        result.warnings.extend(settings.notes)
        if not settings.max_lifetime_given:
            result.warnings.append(default_lifetime_warning(settings.max_lifetime,
                                                            result.layout.profile))
        self.root, self.layout = result.params.root, result.layout
        gc_model = None
        if settings.gc_probe and result.layout.profile == "beego-file":
            from sessdiag.stores.files.gc_estimate import probed_scan_model

            gc_model = probed_scan_model(result, seed=settings.seed)
        report = file_scan_report(result, gc_model=gc_model)
        report["max_lifetime_source"] = (settings.max_lifetime_source
                                         if settings.max_lifetime_given else "default")
        self.sessions = report.get("sessions") or 0
        return report

    def _layout(self, profile: str | None = None) -> tuple[str, Layout]:
        if self.layout is None or self.root is None:
            root, _ = resolve_root(self.target)
            self.root = root
            self.layout = layout_for(root, profile, php_depth=self.php_depth,
                                     sid_pattern=self.sid_pattern)
        return self.root, self.layout

    def inspect(self, sid: str | None, profile: str | None = None) -> dict:
        from sessdiag.inspect import inspect_file

        return inspect_file(self.target, sid, profile=profile)

    def lookup(self, profile: str | None, cookie_name: str,
               secret: object = None) -> SessionLookup | None:
        from sessdiag.stores.files.lookup import FileStoreLookup

        root, layout = self._layout(profile)
        sid_of = frameworks.sid_mapper(profile or layout.profile, cookie_name, secret)
        return FileStoreLookup(root, layout, sid_of, self.partition)

    def attribute(self, attr: str) -> list[dict]:
        from sessdiag.stores.files.lookup import attribute_files

        root, layout = self._layout()
        decode = frameworks.get(layout.profile).decoder()
        return attribute_files(root, layout, decode, attr, self.sessions, self.partition)

    def close(self) -> None:
        pass
