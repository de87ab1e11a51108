// The toolbar's readouts: step, epoch, losses, accuracy, speed, and the status line.
import { formatNumber } from "./views/colors.js";
import { weightGradientName } from "./views/gradientNames.js";

const $ = (id) => document.getElementById(id);

export function renderCounters(frame, gradClipNorm) {
  $("edge-gradient-name").textContent = weightGradientName(frame, gradClipNorm);
  $("step-count").textContent = String(frame.step);
  $("epoch-count").textContent = frame.epoch.toFixed(1);
  $("train-loss").textContent = formatNumber(frame.train_loss);
  $("test-loss").textContent = formatNumber(frame.test_loss);
  $("accuracy").textContent = frame.test_accuracy === null ? "—" : `${(frame.test_accuracy * 100).toFixed(1)}% test, ${(frame.train_accuracy * 100).toFixed(1)}% training`;
  $("speed").textContent = frame.status === "running" ? `${Math.round(frame.steps_per_second)} steps/s` : "";
}

// One line says the most pressing thing: an error shown, else the connection, a shutdown
// notice, or the run's own message.
export function renderStatus(frame, { connected, connection, notice, error }) {
  const word = !connected ? "disconnected" : frame ? frame.status : "connecting";
  $("status-word").textContent = word;
  $("status").dataset.state = word;
  let message = frame?.message || "";
  if (notice) message = notice;
  if (!connected) message = connection;
  if (error) message = `error: ${error}`;
  $("status-message").textContent = message;
  document.body.classList.toggle("running", frame?.status === "running");
}
