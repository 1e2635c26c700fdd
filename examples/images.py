# %% [markdown]
# # Colour segmentation from Python
#
# Segments photos given as arrays (here three scikit-image samples), shows a label map and the
# palette, then segments another photo with the run's shared palette.

# %%
import matplotlib

matplotlib.use("Agg")  # drop this line in a notebook to see the plot inline
import matplotlib.pyplot as plt
from PIL import Image
from skimage import data

import gmm_apps

photos = [data.astronaut(), data.coffee(), data.chelsea()]
run = gmm_apps.run("images", data=photos, out="runs/example-images")
print(run.summary["headline"])
print(run.tables["images"][["image", "width", "height", "n_segments"]])

# %% The label map of the first photo and its palette
labels = Image.open(run.dir / "labels" / "image_0000.png")
palette = run.tables["palettes"].query("image == 'image_0000'")
fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
a.imshow(photos[0])
b.imshow(labels, cmap="tab20", interpolation="nearest")
for ax in (a, b):
    ax.axis("off")
fig.suptitle(" ".join(palette["hex"]))
fig.tight_layout()
fig.savefig("images_labels.png", dpi=100)

# %% A new photo with the shared palette: label k is the same colour class in every photo
again = run.apply(data.rocket(), out="runs/example-images-new")
print(again.summary["headline"])
