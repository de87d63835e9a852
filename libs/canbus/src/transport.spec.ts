import { type CanFrame } from './can-frame';
import { CanFrameListeners } from './transport';

const frame: CanFrame = { id: 0x3f1, data: Buffer.from([0x20]) };

describe('CanFrameListeners', () => {
  it('removes one registration of a function registered twice', () => {
    const listeners = new CanFrameListeners();
    const heard = jest.fn();
    const removeFirst = listeners.add(heard);
    listeners.add(heard);

    removeFirst();
    listeners.emit(frame);

    expect(heard).toHaveBeenCalledTimes(1);
  });

  it('finishes an emit for listeners removed during it, and skips them afterwards', () => {
    const listeners = new CanFrameListeners();
    const second = jest.fn();
    let removeSecond = () => {};
    listeners.add(() => removeSecond());
    removeSecond = listeners.add(second);

    listeners.emit(frame);
    listeners.emit(frame);

    expect(second).toHaveBeenCalledTimes(1);
  });

  it('drops every listener on clear', () => {
    const listeners = new CanFrameListeners();
    const heard = jest.fn();
    listeners.add(heard);
    listeners.clear();
    listeners.emit(frame);
    expect(heard).not.toHaveBeenCalled();
  });
});
