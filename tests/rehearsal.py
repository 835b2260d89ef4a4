"""The deploy rehearsal's setup, shared by its test modules: the synthesized stack deployed into a local engine.

:func:`deploy_rehearsal` synthesizes the CDK app, uploads its assets (the code asset zipped; the aarch64
layer as a placeholder, its x86_64 twin standing in) and creates the stack through moto's
CloudFormation; the engine's Lambda-like workers then run the deployed code asset on the twin.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cdk_app import layer
from featurize.engine import ACCOUNT, REGION, LocalEngine

STACK = "RehearsalStack"


def zip_directory(directory: Path | None, extra: dict[str, str] | None = None) -> bytes:
    """A zip of ``directory``'s files (relative paths) plus ``extra`` name -> text members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")) if directory else ():
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _layer_keys(template: dict[str, Any]) -> set[str]:
    return {
        r["Properties"]["Content"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    }


def resolve(text: str) -> str:
    """A CDK asset destination with the local engine's account and region."""
    return text.replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)


@contextmanager
def deploy_rehearsal(outdir: Path, **engine_options: Any) -> Iterator[LocalEngine]:
    """Synthesize the stack into ``outdir``, deploy it into a fresh local engine, yield the engine.

    ``engine_options`` go to :class:`LocalEngine` (e.g. ``retry_wait_scale``). The engine carries
    ``code_asset`` (the unzipped code asset's directory) and ``twin`` (the layer twin) for the tests.
    """
    from cdk_app.app import build_app

    app, _ = build_app({"stack_name": STACK}, nag=False, outdir=str(outdir))
    app.synth()
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    twin = layer.twin()
    options = {"workers": 2} | engine_options
    with LocalEngine(create_resources=False, layer_dir=twin, **options) as engine:
        s3, ssm, cfn = (engine.client(n) for n in ("s3", "ssm", "cloudformation"))
        ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="21", Type="String")
        manifest = json.loads((outdir / f"{STACK}.assets.json").read_text())
        for asset_hash, asset in manifest["files"].items():
            source = outdir / asset["source"]["path"]
            if f"{asset_hash}.zip" in _layer_keys(template):
                # The aarch64 layer cannot run here and zipping its ~175 MB would only cost time: moto
                # stores a placeholder, and the workers import the twin instead (layer_dir).
                body = zip_directory(None, {"python/README": "replaced by the x86_64 twin in this rehearsal"})
            elif asset["source"].get("packaging") == "zip":
                body = zip_directory(source)
            else:
                body = source.read_bytes()
            for destination in asset["destinations"].values():
                bucket = resolve(destination["bucketName"])
                if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                    s3.create_bucket(Bucket=bucket)
                s3.put_object(Bucket=bucket, Key=resolve(destination["objectKey"]), Body=body)
        cfn.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        # Polling the stack's status (bounded) is the only way CloudFormation says it is done.
        deadline = time.monotonic() + 120
        while (status := cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]).endswith("IN_PROGRESS"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status == "CREATE_COMPLETE", status
        engine.code_asset = next(  # type: ignore[attr-defined]
            outdir / a["source"]["path"]
            for h, a in manifest["files"].items()
            if a["source"].get("packaging") == "zip" and f"{h}.zip" not in _layer_keys(template)
        )
        engine.twin = twin  # type: ignore[attr-defined]
        yield engine
