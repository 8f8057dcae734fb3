# ruff: noqa: UP004, UP008, UP015, UP032 - the original programs' spelling, kept
"""PyTorch's "Quickstart" tutorial (Learn the Basics), written again for minidl.

A fully connected network on Fashion-MNIST: DataLoader, NeuralNetwork(nn.Module), a train and a
test loop, saving and loading the model's state_dict. Only the imports differ from the tutorial,
and the dataset: torchvision is not part of minidl, so ``FashionMNISTDataset`` reads the IDX files
through ``minidl.datasets`` (``$MINIDL_DATA/fashion-mnist`` or the download cache); where the
Fashion-MNIST images are not on this machine and ``--small`` is given, it trains on MNIST.

    python examples/pytorch/quickstart.py              # 5 epochs, as in the tutorial
    python examples/pytorch/quickstart.py --small      # a few seconds
"""

import argparse
import os
import tempfile

import minidl as torch
from minidl import nn
from minidl.datasets import fashion_mnist, mnist
from minidl.utils.data import DataLoader, Dataset


class FashionMNISTDataset(Dataset):
    """(image (1, 28, 28) in [0, 1], label), as torchvision's FashionMNIST with ToTensor()."""

    def __init__(self, train, limit=None):
        try:
            (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(download=not limit)
        except (FileNotFoundError, OSError):
            if limit is None:
                raise
            print("Fashion-MNIST images not found here: using MNIST for this small run")
            (x_train, y_train), (x_test, y_test) = mnist.load_data(download=False)
        images, labels = (x_train, y_train) if train else (x_test, y_test)
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.images = images.astype("float32")[:, None] / 255.0
        self.labels = labels.astype("int64")

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return self.images[idx], int(self.labels[idx])


parser = argparse.ArgumentParser(description="PyTorch Quickstart")
parser.add_argument("--small", action="store_true", help="a few seconds: 640 training and 320 test images, 2 epochs")
args = parser.parse_args()

# Download training data from open datasets.
training_data = FashionMNISTDataset(train=True, limit=640 if args.small else None)

# Download test data from open datasets.
test_data = FashionMNISTDataset(train=False, limit=320 if args.small else None)

batch_size = 64

# Create data loaders.
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % 100 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


epochs = 2 if args.small else 5
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
print("Done!")

folder = tempfile.mkdtemp()  # the tutorial writes model.pth into the working directory
torch.save(model.state_dict(), os.path.join(folder, "model.pth"))
print("Saved PyTorch Model State to model.pth")

model = NeuralNetwork().to(device)
model.load_state_dict(torch.load(os.path.join(folder, "model.pth"), weights_only=True))

classes = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = torch.tensor(x).to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
