# ruff: noqa: UP004, UP008, UP015, UP031, UP032, B007, B023 - the original program's spelling, kept
"""The time-sequence prediction example of pytorch/examples (time_sequence_prediction:
generate_sine_wave.py and train.py in one file), written again for minidl.

Two stacked ``LSTMCell``s learn sine waves and then keep generating them ("future"); the model
is trained in float64 with ``optim.LBFGS`` and a closure, the data saved with ``torch.save`` and
read back with ``torch.load``. Only the imports differ; the pictures (``predict%d.pdf``) are
written into a temporary folder, not the working directory.

    python examples/pytorch/time_sequence_prediction.py --steps 15
    python examples/pytorch/time_sequence_prediction.py --small
"""

import argparse
import os
import tempfile

import matplotlib
import numpy as np

import minidl as torch
import minidl.nn as nn
import minidl.optim as optim

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=15, help='steps to run')
    parser.add_argument('--small', action='store_true', help='a few seconds: 2 steps on shorter waves')
    opt = parser.parse_args()
    folder = tempfile.mkdtemp()

    # generate_sine_wave.py
    np.random.seed(2)
    T = 20
    L = 100 if opt.small else 1000
    N = 12 if opt.small else 100
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype('float64')
    torch.save(data, open(os.path.join(folder, 'traindata.pt'), 'wb'))

    # train.py
    # set random seed to 0
    np.random.seed(0)
    torch.manual_seed(0)
    # load data and make training set
    data = torch.load(os.path.join(folder, 'traindata.pt'))
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    # build the model
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=4 if opt.small else 20)
    # begin to train
    for i in range(2 if opt.small else opt.steps):
        print('STEP: ', i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print('loss:', loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            future = 100 if opt.small else 1000
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print('test loss:', loss.item())
            y = pred.detach().numpy()
        # draw the result
        plt.figure(figsize=(30, 10))
        plt.title('Predict future values for time sequences\n(Dashlines are predicted values)', fontsize=30)
        plt.xlabel('x', fontsize=20)
        plt.ylabel('y', fontsize=20)
        plt.xticks(fontsize=20)
        plt.yticks(fontsize=20)

        def draw(yi, color):
            plt.plot(np.arange(input.size(1)), yi[:input.size(1)], color, linewidth=2.0)
            plt.plot(np.arange(input.size(1), input.size(1) + future), yi[input.size(1):], color + ':',
                     linewidth=2.0)
        draw(y[0], 'r')
        draw(y[1], 'g')
        draw(y[2], 'b')
        plt.savefig(os.path.join(folder, 'predict%d.pdf' % i))
        plt.close()
