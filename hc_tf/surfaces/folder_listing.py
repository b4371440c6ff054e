"""What `hc-tf predict` leaves out of a folder it is given, and the words that say so: HC18's
annotation masks, files with no extension that are not DICOM, and subfolders (not searched)."""

from __future__ import annotations

import os
from typing import List, Optional, Sequence

from hc_tf.io import dicom
from hc_tf.io import file_names
from hc_tf.io import images
from hc_tf.surfaces import input_names

IMAGE_EXTENSIONS = file_names.IMAGE_EXTENSIONS
# HC18 ships each training image's outline mask as NNN_HC_Annotation.png beside NNN_HC.png.
ANNOTATION_SUFFIX = "_Annotation"


def is_image_name(path: str) -> bool:
    """An image file by extension."""
    return os.path.basename(path).lower().endswith(IMAGE_EXTENSIONS)


def annotation_masks(paths: Sequence[str]) -> List[str]:
    """The annotation masks among a folder's (or a glob's) images: `STEM_Annotation.EXT` beside an
    image `STEM.<image ext>` in the same folder, as HC18's. Any other name holding "_Annotation"
    (my_Annotation_scan.png, or a mask without its image) is an image like any other: it was once
    left out silently."""
    stems = {os.path.splitext(p)[0] for p in paths if is_image_name(p)}  # folder/STEM
    return [p for p in paths if is_image_name(p)
            and (stem := os.path.splitext(p)[0]).endswith(ANNOTATION_SUFFIX)
            and stem[:-len(ANNOTATION_SUFFIX)] in stems]


def _some(paths: Sequence[str]) -> str:
    """The first three paths, printable, and how many more."""
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(input_names.printable_name(p) for p in paths[:3]) + more


def masks_note(masks: Sequence[str]) -> str:
    """One line saying which annotation masks the listing left out."""
    return (f"left out {len(masks)} annotation mask{'s' if len(masks) > 1 else ''} (NAME"
            f"{ANNOTATION_SUFFIX}.png beside the image NAME.png, as HC18's): {_some(masks)}; "
            "give one as a file to measure it")


def unmeasured_reason(path: str) -> Optional[str]:
    """Why a folder's file with no extension is left out, in words; None for any other file
    left out (hidden, or named as something else: notes.txt). Scanners write DICOM files
    without an extension (IM0001), so one that is not DICOM by content may be a DICOM file
    without the Part 10 preamble, or one that cannot be opened: it is said, not passed over."""
    name = os.path.basename(path)
    if name.startswith(".") or os.path.splitext(name)[1]:
        return None
    if os.path.islink(path) and not os.path.exists(path):  # a scanner export's link, say
        return f"{input_names.printable_name(path)}: not measured: {images.missing_reason(path)}"
    if not os.path.isfile(path):
        return None
    why = ("cannot be opened" if not os.access(path, os.R_OK)
           else "not DICOM by content (no 'DICM' at byte 128)")
    return (f"{input_names.printable_name(path)}: not measured: no image extension and {why}; "
            "a DICOM file without the Part 10 preamble is read when named .dcm")


def subfolders(listed: Sequence[str], with_images: bool = False) -> List[str]:
    """The (not hidden) folders among a folder's `listed` paths; `with_images`: only those holding
    a file named as an image or DICOM file (one level down, by name)."""
    found = [p for p in listed if not os.path.basename(p).startswith(".") and os.path.isdir(p)]
    if not with_images:
        return found

    def holds_images(folder: str) -> bool:
        try:
            names = os.listdir(folder)
        except OSError:
            return False
        return any(is_image_name(n) or dicom.is_dicom_name(n) for n in names)
    return [p for p in found if holds_images(p)]


def subfolders_note(folders: Sequence[str]) -> str:
    """One line naming the subfolders with images a listing did not search."""
    return (f"subfolders are not searched: {len(folders)} with images left out ({_some(folders)}); "
            "give them as inputs to measure theirs")


def no_images_message(inputs: Sequence[str]) -> str:
    """"no images found in ...", saying that subfolders are not searched when the folders given
    have some (a scanner export's DICOM/PATIENT/STUDY/... tree, HC18's root)."""
    message = f"no images found in {', '.join(inputs)}"
    subs = [s for item in inputs if os.path.isdir(item)
            for s in subfolders(sorted(os.path.join(item, n) for n in os.listdir(item)))]
    if subs:
        message += f"; subfolders are not searched: give them as inputs ({_some(subs)})"
    return message
