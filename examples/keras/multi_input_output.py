"""The Keras functional API guide's "ticket" model, in its original structure for minidl.keras:
three inputs (title, body, tags), two outputs (priority, department), losses and loss weights
given per output by name, data passed as dicts keyed by the Input and output names.

    python examples/keras/multi_input_output.py --small    # also writes the model's picture
"""

import argparse
import os
import tempfile

import numpy as np

from minidl import keras
from minidl.keras import layers

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a few seconds: a smaller model, 1 epoch")
parser.add_argument("--plot", default=os.path.join(tempfile.gettempdir(), "multi_input_and_output_model.png"),
                    help="where to write plot_model's picture")
args = parser.parse_args()

num_tags = 12  # Number of unique issue tags
num_words = 10000  # Size of vocabulary obtained when preprocessing text data
num_departments = 4  # Number of departments for predictions
width = (16, 8) if args.small else (128, 32)

title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

# Embed each word in the title into a 64-dimensional vector
title_features = layers.Embedding(num_words, 64)(title_input)
# Embed each word in the text into a 64-dimensional vector
body_features = layers.Embedding(num_words, 64)(body_input)

# Reduce sequence of embedded words in the title into a single 128-dimensional vector
title_features = layers.LSTM(width[0])(title_features)
# Reduce sequence of embedded words in the body into a single 32-dimensional vector
body_features = layers.LSTM(width[1])(body_features)

# Merge all available features into a single large vector via concatenation
x = layers.concatenate([title_features, body_features, tags_input])

# Stick a logistic regression for priority prediction on top of the features
priority_pred = layers.Dense(1, name="priority")(x)
# Stick a department classifier on top of the features
department_pred = layers.Dense(num_departments, name="department")(x)

# Instantiate an end-to-end model predicting both priority and department
model = keras.Model(
    inputs=[title_input, body_input, tags_input],
    outputs={"priority": priority_pred, "department": department_pred},
)
keras.utils.plot_model(model, args.plot, show_shapes=True)
print("model picture:", args.plot)

model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "priority": keras.losses.BinaryCrossentropy(from_logits=True),
        "department": keras.losses.CategoricalCrossentropy(from_logits=True),
    },
    loss_weights={"priority": 1.0, "department": 0.2},
)

# Dummy input data
n = 64 if args.small else 1280
title_data = np.random.randint(num_words, size=(n, 10))
body_data = np.random.randint(num_words, size=(n, 20 if args.small else 100))
tags_data = np.random.randint(2, size=(n, num_tags)).astype("float32")
# Dummy target data
priority_targets = np.random.random(size=(n, 1))
dept_targets = np.random.randint(2, size=(n, num_departments))

history = model.fit(
    {"title": title_data, "body": body_data, "tags": tags_data},
    {"priority": priority_targets, "department": dept_targets},
    epochs=1 if args.small else 2,
    batch_size=32,
    verbose=2,
)
print("logged:", sorted(history.history))
