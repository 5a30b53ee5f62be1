/* JMeterLauncher — starts JMeter's own main (org.apache.jmeter.NewDriver) after allowing JMeter's
 * classes on JMeter's two XStream instances (SaveService.JMXSAVER and JTLSAVER).
 *
 * Why: Debian's JMeter 2.13 runs on Debian's XStream 1.4.20, whose security framework rejects
 * every class not on an allowlist; JMeter 2.13 predates that and never adds its own classes, so
 * loading any test plan fails with ForbiddenClassException (and `jmeter` still exits 0). This
 * launcher changes nothing else: same arguments, same properties, same main. On a JMeter that
 * already allows its classes (5.x) the extra permission is harmless.
 *
 * Everything goes through reflection, so it compiles with a bare javac and no JMeter on the class
 * path: java -cp DIR:$JMETER_HOME/bin/ApacheJMeter.jar -Djmeter.home=… JMeterLauncher ARGS…
 * scripts/jmeter.sh compiles and runs it; no .class file is kept in the repository. */

import java.lang.reflect.Field;
import java.lang.reflect.Method;

public final class JMeterLauncher {
    private static final String[] ALLOWED = {"org.apache.jmeter.**", "org.apache.jorphan.**"};

    private JMeterLauncher() {}

    public static void main(String[] args) throws Exception {
        String home = System.getProperty("jmeter.home");
        if (home == null || home.isEmpty()) {
            home = "/usr/share/jmeter";
            System.setProperty("jmeter.home", home);
        }
        /* NewDriver's static initialiser builds the class loader over lib/ and lib/ext/. */
        Class<?> driver = Class.forName("org.apache.jmeter.NewDriver");
        ClassLoader loader = JMeterLauncher.class.getClassLoader();
        try {
            Field f = driver.getDeclaredField("loader");
            f.setAccessible(true);
            loader = (ClassLoader) f.get(null);
        } catch (NoSuchFieldException e) {
            System.err.println("JMeterLauncher: NewDriver has no loader field; using the class path");
        }
        Thread.currentThread().setContextClassLoader(loader);

        /* SaveService reads saveservice.properties through JMeterUtils when it initialises: give
         * JMeterUtils its home and properties first (JMeter.start loads them again, the same). */
        Class<?> utils = Class.forName("org.apache.jmeter.util.JMeterUtils", true, loader);
        utils.getMethod("setJMeterHome", String.class).invoke(null, home);
        utils.getMethod("loadJMeterProperties", String.class)
                .invoke(null, home + "/bin/jmeter.properties");

        Class<?> save = Class.forName("org.apache.jmeter.save.SaveService", true, loader);
        int allowed = 0;
        for (String name : new String[] {"JMXSAVER", "JTLSAVER"}) {
            try {
                Field f = save.getDeclaredField(name);
                f.setAccessible(true);
                Object xstream = f.get(null);
                Method allow = xstream.getClass().getMethod("allowTypesByWildcard", String[].class);
                allow.invoke(xstream, (Object) ALLOWED);
                allowed++;
            } catch (NoSuchFieldException | NoSuchMethodException e) {
                /* An XStream without a security framework, or a JMeter that names them
                 * differently: nothing to allow. */
            }
        }
        System.err.println("JMeterLauncher: allowed " + String.join(", ", ALLOWED) + " on "
                + allowed + " XStream instance(s) of " + home);

        Method main = driver.getMethod("main", String[].class);
        main.invoke(null, (Object) args);
    }
}
