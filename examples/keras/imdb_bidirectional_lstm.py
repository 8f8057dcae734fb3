"""The Keras example "Bidirectional LSTM on IMDB", in its original structure for minidl.keras.

The full run reads Keras's ``imdb.npz`` (``keras.datasets.imdb``: from ``$MINIDL_DATA``, the
cache, or downloaded with its checksum). ``--small`` runs offline on the UCI sentiment sentences
(3,000 short reviews that ``$MINIDL_DATA`` holds), already as padded word-index arrays, with a
smaller model: a few seconds.

    python examples/keras/imdb_bidirectional_lstm.py --small
"""

import argparse

from minidl import keras
from minidl.keras import layers

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a few seconds: the UCI sentences, a small model")
args = parser.parse_args()

max_features = 1000 if args.small else 20000  # Only consider the top 20k words
maxlen = 20 if args.small else 200  # Only consider the first 200 words of each movie review
units = 8 if args.small else 64

# Input for variable-length sequences of integers
inputs = keras.Input(shape=(None,), dtype="int32")
# Embed each integer in a 128-dimensional vector
x = layers.Embedding(max_features, 16 if args.small else 128)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(units))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

if args.small:
    from minidl.datasets import sentiment

    (x_train, y_train), (x_val, y_val) = sentiment.load_data(num_words=max_features, maxlen=maxlen)
    x_train, y_train = x_train[:800], y_train[:800]
else:
    (x_train, y_train), (x_val, y_val) = keras.datasets.imdb.load_data(num_words=max_features)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
# Use pad_sequence to standardize sequence length: this will truncate sequences longer than
# maxlen and pad sequences shorter than maxlen.
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=32, epochs=1 if args.small else 2, validation_data=(x_val, y_val), verbose=2)
