"""The DICOM SR validators the tests run, from Debian packages; a test skips, naming the
package, where its tool is absent: dciodvfy (dicom3tools: IOD and module checks), dsrdump
(dcmtk: parses an SR and names its templates), PixelMed's DicomSRValidator (the IOD, and the
TID 1500 family's templates)."""

import glob
import os
import shutil
import subprocess
from typing import List

import pytest

PIXELMED_JAR = ("/usr/share/java/pixelmed.jar" if os.path.isfile("/usr/share/java/pixelmed.jar")
                else (sorted(glob.glob("/usr/share/java/pixelmed*.jar")) or [None])[-1])
# Debian's 2022 jar needs XPath's limits lifted for the SR rules it compiles.
_JAVA_OPTIONS = ["-Djdk.xml.xpathExprOpLimit=0", "-Djdk.xml.xpathExprGrpLimit=0",
                 "-Djdk.xml.xpathTotalOpLimit=0"]


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def dciodvfy_errors(path: str) -> List[str]:
    """dciodvfy's "Error" lines for `path` (its warnings are not counted)."""
    out = subprocess.run([tool("dciodvfy", "dicom3tools"), path], capture_output=True, text=True,
                         timeout=120)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def dsrdump(path: str) -> str:
    """dsrdump's listing of `path` with its template identification (+Pt); it must parse."""
    out = subprocess.run([tool("dsrdump", "dcmtk"), "+Pt", path], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def pixelmed(path: str) -> str:
    """PixelMed's DicomSRValidator's output for `path` (seconds a file: the JVM starts)."""
    java = shutil.which("java")
    if java is None or PIXELMED_JAR is None:
        pytest.skip("PixelMed's DicomSRValidator needs java and libpixelmed-java (Debian)")
    out = subprocess.run([java, *_JAVA_OPTIONS, "-cp", PIXELMED_JAR,
                          "com.pixelmed.validate.DicomSRValidator", path],
                         capture_output=True, text=True, timeout=300)
    return out.stdout + out.stderr
