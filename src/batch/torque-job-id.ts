// TORQUE job ids travel through argv and XML written by others; one shape check keeps them out of trouble.

/** `14.vm`, `14.vm.example.org`, `14[3].vm`, `14[].vm` or a bare `14`. */
const TORQUE_JOB_ID = /^[0-9]{1,12}(?:\[[0-9]{0,9}\])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9.-]{0,250}))?$/;

// A job id is also used as a file name and a command argument, so anything unusual is refused.
export function isTorqueJobId(text: string): boolean {
  return TORQUE_JOB_ID.test(text) && !text.includes('..') && !text.endsWith('.');
}
