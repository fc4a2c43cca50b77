"""Make the demo's examples: public-domain / CC0 photos that scikit-image ships, with trimaps made here.

Each trimap comes from a rough selection (a box plus a few strokes, written below) through the GrabCut +
unknown-band generator the app uses (`indexnet.trimap`). Run from the repository root:
`python examples/make_examples.py`. (The shipped trimaps were made before the band followed the training
rule, `indexnet.data.trimap_with_band`; a rerun gives bands that differ by about a pixel.)
"""
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from indexnet.trimap import grabcut_mask, trimap_from_mask  # noqa: E402

OUT = Path(__file__).resolve().parent

# name: (photo, box around the subject (x0, y0, x1, y1), subject strokes, background strokes, band px)
# Strokes are polylines [(x, y), ...] drawn 9 px thick, as a person would scribble them in the app.
EXAMPLES = {
    "astronaut": (data.astronaut, (15, 5, 512, 512),
                  [[(225, 60), (225, 170)], [(120, 330), (330, 330), (300, 470)], [(60, 420), (200, 480)],
                   [(170, 210), (280, 210)], [(140, 245), (300, 250)]],
                  [[(20, 20), (60, 250)], [(400, 20), (440, 260)], [(330, 60), (340, 250)], [(120, 20), (150, 90)],
                   [(375, 295), (505, 305)], [(320, 400), (480, 480)], [(330, 480), (450, 380)]],
                  10),
    "chelsea": (data.chelsea, (0, 0, 451, 300),
                [[(100, 150), (330, 150)], [(200, 60), (260, 250)], [(40, 250), (300, 280)],
                 [(300, 100), (345, 150), (330, 230)], [(330, 25), (365, 55)], [(290, 260), (350, 290)]],
                [[(420, 110), (430, 290)], [(445, 0), (445, 100)], [(380, 130), (400, 200)]],
                12),
    "coffee": (data.coffee, (70, 12, 485, 392),
               [[(200, 60), (400, 60)], [(250, 150), (330, 250)], [(120, 300), (420, 330)]],
               [[(20, 20), (40, 380)], [(540, 20), (560, 380)]],
               8),
}


def strokes(shape, lines):
    mask = np.zeros(shape, np.uint8)
    for line in lines:
        cv2.polylines(mask, [np.array(line, np.int32)], False, 1, thickness=9)
    return mask.astype(bool)


def main():
    for name, (load, (x0, y0, x1, y1), subject, background, band) in EXAMPLES.items():
        image = load()
        h, w = image.shape[:2]
        around = np.zeros((h, w), bool)
        around[y0, x0:x1] = around[y1 - 1, x0:x1] = around[y0:y1, x0] = around[y0:y1, x1 - 1] = True
        mask = grabcut_mask(image, around, strokes((h, w), subject), strokes((h, w), background), iterations=8)
        trimap = trimap_from_mask(mask, band)
        Image.fromarray(image).save(OUT / f"{name}.jpg", quality=90)
        Image.fromarray(trimap).save(OUT / f"{name}_trimap.png", optimize=True)
        print(name, image.shape, {v: round(float((trimap == v).mean()), 3) for v in (0, 128, 255)})


if __name__ == "__main__":
    main()
