# ruff: noqa: UP004, UP008, UP015, UP032 - the original programs' spelling, kept
"""PyTorch's "Training a Classifier" (Deep Learning with PyTorch: A 60 Minute Blitz), written
again for minidl.

The tutorial's LeNet-style ``Net``, CrossEntropyLoss, SGD with momentum, the training loop over
``enumerate(trainloader, 0)``, saving and reloading the weights, the accuracy over the test set
and per class. Only the imports differ, and the data: CIFAR-10 comes through torchvision, which
is not part of minidl, and is not on this machine; ``SyntheticCIFAR10`` stands in for it with
32x32 colour images of the ten classes (each class a colour and a stripe direction, plus noise),
normalised as ``transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))`` does.

    python examples/pytorch/cifar10_classifier.py            # 2 epochs over 10000 images
    python examples/pytorch/cifar10_classifier.py --small    # a few seconds
"""

import argparse
import os
import tempfile

import numpy as np

import minidl as torch
import minidl.nn as nn
import minidl.nn.functional as F
import minidl.optim as optim
from minidl.utils.data import DataLoader, Dataset


class SyntheticCIFAR10(Dataset):
    """(image (3, 32, 32) in [−1, 1], label) pairs: class k has colour k and stripes at angle k."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 10, size=n)
        yy, xx = np.mgrid[0:32, 0:32] / 32.0
        angle = self.labels[:, None, None] * np.pi / 10
        stripes = np.sin(12 * (np.cos(angle) * xx + np.sin(angle) * yy))  # (n, 32, 32)
        colour = rng.uniform(0.2, 1.0, size=(10, 3))[self.labels]  # (n, 3)
        images = 0.5 + 0.4 * stripes[:, None] * colour[:, :, None, None] + rng.normal(0, 0.2, (n, 3, 32, 32))
        self.images = ((np.clip(images, 0, 1) - 0.5) / 0.5).astype(np.float32)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], int(self.labels[index])


parser = argparse.ArgumentParser(description="Training a classifier")
parser.add_argument("--small", action="store_true", help="a few seconds: 400 training images, 1 epoch")
args = parser.parse_args()

batch_size = 4

trainset = SyntheticCIFAR10(400 if args.small else 10000, seed=0)
trainloader = DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=2)

testset = SyntheticCIFAR10(200 if args.small else 2000, seed=1)
testloader = DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=2)

classes = ('plane', 'car', 'bird', 'cat',
           'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

for epoch in range(1 if args.small else 2):  # loop over the dataset multiple times

    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        # get the inputs; data is a list of [inputs, labels]
        inputs, labels = data

        # zero the parameter gradients
        optimizer.zero_grad()

        # forward + backward + optimize
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

        # print statistics
        running_loss += loss.item()
        if i % 2000 == 1999 or (args.small and i % 50 == 49):    # print every 2000 mini-batches
            print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 2000:.3f}')
            running_loss = 0.0

print('Finished Training')

PATH = os.path.join(tempfile.mkdtemp(), 'cifar_net.pth')  # the tutorial writes ./cifar_net.pth
torch.save(net.state_dict(), PATH)

dataiter = iter(testloader)
images, labels = next(dataiter)
print('GroundTruth: ', ' '.join(f'{classes[labels[j]]:5s}' for j in range(4)))

net = Net()
net.load_state_dict(torch.load(PATH, weights_only=True))

outputs = net(images)
_, predicted = torch.max(outputs, 1)
print('Predicted: ', ' '.join(f'{classes[predicted[j]]:5s}' for j in range(4)))

correct = 0
total = 0
# since we're not training, we don't need to calculate the gradients for our outputs
with torch.no_grad():
    for data in testloader:
        images, labels = data
        # calculate outputs by running images through the network
        outputs = net(images)
        # the class with the highest energy is what we choose as prediction
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()

print(f'Accuracy of the network on the {total} test images: {100 * correct // total} %')

# prepare to count predictions for each class
correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}

# again no gradients needed
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predictions = torch.max(outputs, 1)
        # collect the correct predictions for each class
        for label, prediction in zip(labels, predictions):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1


# print accuracy for each class
for classname, correct_count in correct_pred.items():
    accuracy = 100 * float(correct_count) / total_pred[classname]
    print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')
